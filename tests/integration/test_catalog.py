"""The snapshot catalog (catalog/, `rrvm-img catalog`) against real qemu-img
7.2 as the other party: reconciliation after snapshots qemu-img made or
deleted, after a crash between the image write and the catalog write, after
an image was copied or moved; two writers at once; broken catalogs that must
cost one warning and never the command; migration from an older schema."""
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time

import pytest

from conftest import run

QEMU_IMG = "qemu-img"


@pytest.fixture
def cat_env(tmp_path):
    """A private catalog for one test: (environment, catalog path)."""
    path = tmp_path / "catalog.sqlite"
    return dict(os.environ, RRVM_CATALOG=str(path)), path


@pytest.fixture(autouse=True)
def _need_qemu_img():
    if subprocess.run(["which", QEMU_IMG], stdout=subprocess.DEVNULL).returncode:
        pytest.fail("qemu-img missing (qemu-utils, scripts/packages.txt)")


def img(rrvm_img, args, env, cwd, check=True):
    return run([rrvm_img] + args, env=env, cwd=cwd, check=check)


def qimg(args, cwd):
    return run([QEMU_IMG] + args, cwd=cwd)


def listing(rrvm_img, env, cwd, *opts):
    p = img(rrvm_img, ["catalog", "list", "--output=json"] + list(opts), env,
            cwd)
    assert p.stderr == ""
    return json.loads(p.stdout)


def tags(rows, image=None):
    return sorted(r["name"] for r in rows
                  if image is None or r["image"] == str(image))


def new_image(cwd, name="a.qcow2"):
    qimg(["create", "-q", "-f", "qcow2", name, "1M"], cwd)
    return cwd / name


def test_snapshot_commands_keep_the_catalog_and_qemu_img_output(
        rrvm_img, tmp_path, cat_env):
    env, _ = cat_env
    a = new_image(tmp_path)
    b = new_image(tmp_path, "b.qcow2")
    for args in (["-c", "one"], ["-c", "two"], ["-a", "one"], ["-d", "two"]):
        p = img(rrvm_img, ["snapshot"] + args + ["a.qcow2"], env, tmp_path)
        q = qimg(["snapshot"] + args + ["b.qcow2"], tmp_path)
        assert (p.stdout, p.stderr) == (q.stdout, q.stderr) == ("", "")
    assert tags(listing(rrvm_img, env, tmp_path, "--no-sync"), a) == ["one"]
    # qemu-img changes the image behind the catalog's back; the next
    # rrvm-img snapshot command reconciles everything.
    qimg(["snapshot", "-c", "by-qemu", "a.qcow2"], tmp_path)
    qimg(["snapshot", "-d", "one", "a.qcow2"], tmp_path)
    img(rrvm_img, ["snapshot", "-c", "three", "a.qcow2"], env, tmp_path)
    rows = listing(rrvm_img, env, tmp_path, "--no-sync")
    assert tags(rows, a) == ["by-qemu", "three"]
    assert b.exists() and tags(rows, b) == []
    # listing reconciles every known image by itself
    qimg(["snapshot", "-d", "three", "a.qcow2"], tmp_path)
    assert tags(listing(rrvm_img, env, tmp_path), a) == ["by-qemu"]
    # the other commands never touch the catalog
    lonely = tmp_path / "never.sqlite"
    env2 = dict(env, RRVM_CATALOG=str(lonely))
    for args in (["snapshot", "-l", "a.qcow2"], ["info", "a.qcow2"],
                 ["check", "a.qcow2"]):
        img(rrvm_img, args, env2, tmp_path)
    assert not lonely.exists()


def test_rows_match_qemu_img_listing(rrvm_img, tmp_path, cat_env):
    env, _ = cat_env
    a = new_image(tmp_path)
    qimg(["snapshot", "-c", "s1", "a.qcow2"], tmp_path)
    qimg(["snapshot", "-c", "s2", "a.qcow2"], tmp_path)
    img(rrvm_img, ["catalog", "sync", "-q", str(tmp_path)], env, tmp_path)
    info = json.loads(qimg(["info", "--output=json", "a.qcow2"],
                           tmp_path).stdout)
    rows = listing(rrvm_img, env, tmp_path, "--no-sync")
    assert len(rows) == len(info["snapshots"]) == 2
    for r, s in zip(rows, info["snapshots"]):
        for k in ("id", "name", "vm-state-size", "date-sec", "date-nsec",
                  "vm-clock-sec", "vm-clock-nsec"):
            assert r[k] == s[k], k
        assert r["image"] == str(a)


def test_crash_between_image_write_and_catalog_write(rrvm_img, tmp_path,
                                                     cat_env):
    """SIGKILL rrvm-img snapshot -c after the snapshot is durable in the
    image and before the catalog has it (the catalog is held locked by
    another process, so the kill lands while it waits for it)."""
    env, catalog = cat_env
    a = new_image(tmp_path)
    img(rrvm_img, ["snapshot", "-c", "before", "a.qcow2"], env, tmp_path)
    img(rrvm_img, ["catalog", "label", "a.qcow2", "before", "keep"], env,
        tmp_path)
    holder = sqlite3.connect(str(catalog), timeout=0, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    proc = subprocess.Popen([rrvm_img, "snapshot", "-c", "lost", "a.qcow2"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 30
        while True:
            out = run([QEMU_IMG, "snapshot", "-U", "-l", "a.qcow2"],
                      cwd=tmp_path).stdout
            if " lost " in out:
                break
            assert proc.poll() is None, "finished before the kill"
            assert time.time() < deadline, "snapshot never appeared"
            time.sleep(0.02)
        assert proc.poll() is None, "catalog written despite the lock"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        holder.execute("ROLLBACK")
        holder.close()
    assert proc.returncode == -signal.SIGKILL
    assert tags(listing(rrvm_img, env, tmp_path, "--no-sync"), a) == [
        "before"]
    # seen again: the image wins, the labels survive
    rows = listing(rrvm_img, env, tmp_path)
    assert tags(rows, a) == ["before", "lost"]
    assert [r["labels"] for r in rows if r["name"] == "before"] == [["keep"]]
    qimg(["check", "a.qcow2"], tmp_path)
    assert img(rrvm_img, ["catalog", "check"], env, tmp_path).stdout == \
        "No errors were found in the catalog.\n"


def test_copied_image_is_new_and_moved_image_keeps_its_marks(
        rrvm_img, tmp_path, cat_env):
    env, _ = cat_env
    a = new_image(tmp_path)
    img(rrvm_img, ["snapshot", "-c", "s", "a.qcow2"], env, tmp_path)
    img(rrvm_img, ["catalog", "mark", "a.qcow2", "s", "bad"], env, tmp_path)
    img(rrvm_img, ["catalog", "annotate", "a.qcow2", "s", "crashes"], env,
        tmp_path)
    # a copy: a second image with its own rows, no marks or notes
    run(["cp", "a.qcow2", "copy.qcow2"], cwd=tmp_path)
    rows = listing(rrvm_img, env, tmp_path)
    assert tags(rows, a) == ["s"]  # the copy is not known before it is seen
    img(rrvm_img, ["catalog", "sync", str(tmp_path)], env, tmp_path)
    rows = listing(rrvm_img, env, tmp_path)
    by_image = {r["image"]: r for r in rows}
    assert set(by_image) == {str(a), str(tmp_path / "copy.qcow2")}
    orig, copy = by_image[str(a)], by_image[str(tmp_path / "copy.qcow2")]
    assert orig["row"] != copy["row"]
    assert orig.get("mark") == "bad" and orig.get("note") == "crashes"
    assert "mark" not in copy and "note" not in copy
    # a move (even one followed by a snapshot made with qemu-img): the same
    # image, with its mark and note
    (tmp_path / "sub").mkdir()
    os.rename(a, tmp_path / "sub" / "moved.qcow2")
    qimg(["snapshot", "-c", "after-move", "sub/moved.qcow2"], tmp_path)
    img(rrvm_img, ["catalog", "sync", "-q", "sub"], env, tmp_path)
    rows = listing(rrvm_img, env, tmp_path)
    moved = str(tmp_path / "sub" / "moved.qcow2")
    assert sorted({r["image"] for r in rows}) == sorted(
        [moved, str(tmp_path / "copy.qcow2")])
    s = [r for r in rows if r["image"] == moved and r["name"] == "s"]
    assert s[0]["row"] == orig["row"] and s[0]["mark"] == "bad"
    assert tags(rows, moved) == ["after-move", "s"]
    # forget drops an image and its rows
    img(rrvm_img, ["catalog", "forget", "copy.qcow2"], env, tmp_path)
    assert {r["image"] for r in listing(rrvm_img, env, tmp_path)} == {moved}


def test_missing_image_is_shown_not_dropped(rrvm_img, tmp_path, cat_env):
    env, _ = cat_env
    new_image(tmp_path)
    img(rrvm_img, ["snapshot", "-c", "s", "a.qcow2"], env, tmp_path)
    os.rename(tmp_path / "a.qcow2", tmp_path / "elsewhere")
    rows = listing(rrvm_img, env, tmp_path)
    assert [r["image-missing"] for r in rows] == [True]
    p = img(rrvm_img, ["catalog", "list"], env, tmp_path)
    assert p.stdout.splitlines()[0] == \
        f"Image: {tmp_path / 'a.qcow2'} (missing)"


def test_two_writers_at_once(rrvm_img, tmp_path, cat_env):
    """Two processes creating snapshots (each reconciling the catalog) and
    labelling them, interleaved on one catalog: no errors, nothing lost."""
    env, _ = cat_env
    n = 12
    for name in ("x.qcow2", "y.qcow2"):
        new_image(tmp_path, name)
    img(rrvm_img, ["catalog", "list"], env, tmp_path)  # create it first
    script = ("set -e; for i in $(seq 1 %d); do "
              "\"$IMG\" snapshot -c s$i $F; "
              "\"$IMG\" catalog label $F s$i l$i; done" % n)
    procs = [subprocess.Popen(["sh", "-c", script], cwd=tmp_path,
                              env=dict(env, IMG=rrvm_img, F=f),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
             for f in ("x.qcow2", "y.qcow2")]
    for p in procs:
        out, errs = p.communicate(timeout=300)
        assert p.returncode == 0, errs
        assert out == "" and errs == ""
    rows = listing(rrvm_img, env, tmp_path, "--no-sync")
    for f in ("x.qcow2", "y.qcow2"):
        mine = [r for r in rows if r["image"] == str(tmp_path / f)]
        assert sorted(r["name"] for r in mine) == sorted(
            f"s{i}" for i in range(1, n + 1))
        assert all(r["labels"] == ["l" + r["name"][1:]] for r in mine)


def expect_one_warning(p, catalog_text):
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("rrvm-img: warning: snapshot catalog "), lines
    assert catalog_text in lines[0]


@pytest.mark.parametrize("kind", ["garbage", "directory", "no-dir", "proc",
                                  "newer"])
def test_broken_catalog_costs_one_warning(rrvm_img, tmp_path, kind):
    new_image(tmp_path)
    new_image(tmp_path, "b.qcow2")
    catalog = {"garbage": tmp_path / "garbage.sqlite",
               "directory": tmp_path / "adir",
               "no-dir": tmp_path / "no" / "such" / "c.sqlite",
               "proc": "/proc/self/rrvm-catalog.sqlite",
               "newer": tmp_path / "newer.sqlite"}[kind]
    if kind == "garbage":
        catalog.write_bytes(bytes(range(256)) * 40)
    elif kind == "directory":
        catalog.mkdir()
    elif kind == "newer":
        db = sqlite3.connect(str(catalog))
        db.execute("PRAGMA user_version=99")
        db.close()
    before = catalog.read_bytes() if kind in ("garbage", "newer") else None
    env = dict(os.environ, RRVM_CATALOG=str(catalog))
    for args in (["-c", "s"], ["-a", "s"], ["-d", "s"]):
        p = img(rrvm_img, ["snapshot"] + args + ["a.qcow2"], env, tmp_path)
        q = qimg(["snapshot"] + args + ["b.qcow2"], tmp_path)
        assert p.returncode == 0 and p.stdout == q.stdout
        expect_one_warning(p, str(catalog))
    assert run([QEMU_IMG, "snapshot", "-l", "a.qcow2"], cwd=tmp_path).stdout \
        == ""
    if before is not None:
        assert catalog.read_bytes() == before
    # the catalog command itself fails, with one clear line
    p = img(rrvm_img, ["catalog", "list"], env, tmp_path, check=False)
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr.startswith(
        "rrvm-img: Could not open the snapshot catalog: ")
    assert len(p.stderr.splitlines()) == 1


def test_locked_catalog_costs_one_warning(rrvm_img, tmp_path, cat_env):
    env, catalog = cat_env
    new_image(tmp_path)
    img(rrvm_img, ["catalog", "list"], env, tmp_path)
    holder = sqlite3.connect(str(catalog), timeout=0, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        t0 = time.time()
        p = img(rrvm_img, ["snapshot", "-c", "s", "a.qcow2"], env, tmp_path)
        assert time.time() - t0 < 30
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert p.stdout == ""
    expect_one_warning(p, "locked")
    assert " s " in run([QEMU_IMG, "snapshot", "-l", "a.qcow2"],
                        cwd=tmp_path).stdout


V1_SCHEMA = """
CREATE TABLE image (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE,
  fingerprint TEXT NOT NULL, first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL);
CREATE TABLE snapshot (id INTEGER PRIMARY KEY,
  image_id INTEGER NOT NULL REFERENCES image(id) ON DELETE CASCADE,
  qcow2_id TEXT NOT NULL, tag TEXT NOT NULL, vm_size INTEGER NOT NULL,
  date_sec INTEGER NOT NULL, date_nsec INTEGER NOT NULL,
  vm_clock_nsec INTEGER NOT NULL, icount INTEGER, state_hash TEXT,
  mark INTEGER NOT NULL DEFAULT 0, note TEXT);
CREATE INDEX snapshot_by_image ON snapshot(image_id);
PRAGMA user_version=1;
"""


def test_migration_from_version_1(rrvm_img, tmp_path):
    """A version-1 catalog (written here as that schema was) is migrated in
    place: its rows, marks and notes kept, and reconciled with the image."""
    a = new_image(tmp_path)
    qimg(["snapshot", "-c", "old", "a.qcow2"], tmp_path)
    info = json.loads(qimg(["info", "--output=json", "a.qcow2"],
                           tmp_path).stdout)["snapshots"][0]
    catalog = tmp_path / "v1.sqlite"
    db = sqlite3.connect(str(catalog))
    db.executescript(V1_SCHEMA)
    db.execute("INSERT INTO image VALUES (1, ?, 'x', 1, 1)", (str(a),))
    db.execute("INSERT INTO snapshot VALUES (1, 1, '1', 'old', 0, ?, ?, 0, 0,"
               " 'cafe', 2, 'from v1')",
               (info["date-sec"], info["date-nsec"]))
    db.commit()
    db.close()
    env = dict(os.environ, RRVM_CATALOG=str(catalog))
    rows = listing(rrvm_img, env, tmp_path)
    assert len(rows) == 1
    r = rows[0]
    assert (r["name"], r["mark"], r["note"], r["state-hash"], r["row"]) == \
        ("old", "bad", "from v1", "cafe", 1)
    db = sqlite3.connect(str(catalog))
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    img(rrvm_img, ["catalog", "label", "a.qcow2", "old", "v2-label"], env,
        tmp_path)
    assert listing(rrvm_img, env, tmp_path)[0]["labels"] == ["v2-label"]


def test_search_filters(rrvm_img, tmp_path, cat_env):
    env, _ = cat_env
    new_image(tmp_path)
    for t in ("boot", "bug-1", "bug-2"):
        img(rrvm_img, ["snapshot", "-c", t, "a.qcow2"], env, tmp_path)
    img(rrvm_img, ["catalog", "label", "a.qcow2", "bug-1", "flaky", "net"],
        env, tmp_path)
    img(rrvm_img, ["catalog", "label", "-d", "a.qcow2", "bug-1", "net"], env,
        tmp_path)
    img(rrvm_img, ["catalog", "mark", "a.qcow2", "3", "good"], env, tmp_path)

    def names(*opts):
        p = img(rrvm_img, ["catalog", "search", "--output=json"] +
                list(opts), env, tmp_path)
        return [r["name"] for r in json.loads(p.stdout)]

    assert names("--tag=bug-*") == ["bug-1", "bug-2"]
    assert names("--label=flaky") == ["bug-1"]
    assert names("--label=net") == []
    assert names("--mark=good") == ["bug-2"]
    assert names("--image=a.qcow2", "--icount-min=0", "--icount-max=0") == \
        ["boot", "bug-1", "bug-2"]
    assert names("--since=@0", "--until=2000-01-01") == []
    assert names("--since=2000-01-01 00:00") == ["boot", "bug-1", "bug-2"]
    assert names("--image=other.qcow2") == []
    human = img(rrvm_img, ["catalog", "list", "--tag=bug-1"], env,
                tmp_path).stdout.splitlines()
    assert human[0] == f"Image: {tmp_path / 'a.qcow2'}"
    assert human[1].startswith("ID        TAG               VM SIZE")
    assert human[1].endswith("ICOUNT MARK LABELS")
    assert human[2].split()[:2] == ["2", "bug-1"]
    assert human[2].endswith(" flaky")


@pytest.mark.parametrize("args,msg", [
    (["frobnicate"], "catalog: unknown command 'frobnicate'"),
    ([], "catalog: expecting a command"),
    (["list", "--mark=meh"], "Invalid mark 'meh'"),
    (["list", "--since=yesterday"], "Invalid --since 'yesterday'"),
    (["list", "--icount-min=-1"], "Invalid --icount-min '-1'"),
    (["list", "--output=xml"], "--output must be used with human or json"),
    (["mark", "a.qcow2", "nope", "good"], "snapshot 'nope' of 'a.qcow2' is "
     "not in the catalog"),
    (["label", "a.qcow2", "s"], "expecting IMAGE SNAPSHOT LABEL"),
    (["forget", "zzz.qcow2"], "image 'zzz.qcow2' is not in the catalog"),
    (["sync", "nowhere"], "Could not open 'nowhere'"),
    (["-catalog"], "missing argument for option '-catalog'"),
])
def test_catalog_command_errors(rrvm_img, tmp_path, cat_env, args, msg):
    env, _ = cat_env
    new_image(tmp_path)
    img(rrvm_img, ["snapshot", "-c", "s", "a.qcow2"], env, tmp_path)
    p = img(rrvm_img, ["catalog"] + args, env, tmp_path, check=False)
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr.startswith("rrvm-img: ") and msg in p.stderr, p.stderr


def test_catalog_option_and_default_location(rrvm_img, tmp_path):
    new_image(tmp_path)
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "xdg"))
    env.pop("RRVM_CATALOG", None)
    img(rrvm_img, ["snapshot", "-c", "s", "a.qcow2"], env, tmp_path)
    default = tmp_path / "xdg" / "rrvm" / "catalog.sqlite"
    assert default.exists()
    img(rrvm_img, ["catalog", "-catalog", "other.sqlite", "sync", "-q", "."],
        env, tmp_path)
    assert (tmp_path / "other.sqlite").exists()
    p = img(rrvm_img, ["catalog", "--catalog=other.sqlite", "list",
                       "--output=json"], env, tmp_path)
    assert [r["name"] for r in json.loads(p.stdout)] == ["s"]
