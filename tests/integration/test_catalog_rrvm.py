"""rrvm keeps the snapshot catalog current (docs/snapshots.md, "The
catalog"): savevm, delvm and loadvm recorded with state hash, icount and
parent; images reconciled when rrvm opens them (snapshots qemu-img made or
deleted between runs); a broken catalog costs one warning on stderr and
never a snapshot or a monitor reply; two rrvm processes share one catalog;
the __org.rrvm_ catalog commands; rrvm-img snapshot-diff."""
import json
import os
import sqlite3

import pytest

import test_snapshots as ts
from conftest import needs_fw, run
from test_snapshots import FW, qcow2
from vmproc import finish, run_to, start, statehash, typed

WARNING = "rrvm: warning: snapshot catalog"


@pytest.fixture
def catalog(tmp_path, monkeypatch):
    """A private catalog for the test's rrvm and rrvm-img processes."""
    path = tmp_path / "catalog.sqlite"
    monkeypatch.setenv("RRVM_CATALOG", str(path))
    return path


def uboot(disk, *extra):
    return ["-m", "64M", "-bios", FW, "-kernel", ts.UBOOT_S, "-nodefaults",
            "-serial", "null", "-S", "-icount", "shift=3,sleep=off",
            "-drive", f"file={disk},if=virtio", *extra]


def listing(rrvm_img):
    p = run([rrvm_img, "catalog", "list", "--output=json"])
    return json.loads(p.stdout)


def by_tag(rows):
    return {r["name"]: r for r in rows}


def quit_and_stderr(p, q):
    finish(p, q)
    return p.stderr.read().decode()


# ---- rrvm records savevm, delvm and loadvm ----

@needs_fw
def test_savevm_delvm_loadvm_are_recorded(rrvm, rrvm_img, tmp_path, catalog):
    disk = qcow2(tmp_path, "d.qcow2")
    p, q = start(rrvm, uboot(disk), str(tmp_path / "q.sock"))
    run_to(q, 1_000_000)
    h_a = statehash(q)
    assert q.hmp("savevm a") == ""
    run_to(q, 2_000_000)
    assert q.hmp("savevm b") == ""
    assert q.hmp("loadvm a") == ""
    run_to(q, 3_000_000)
    h_c = statehash(q)
    assert q.hmp("savevm c") == ""
    assert q.hmp("delvm b") == ""
    err = quit_and_stderr(p, q)
    assert WARNING not in err

    rows = by_tag(listing(rrvm_img))
    assert sorted(rows) == ["a", "c"]
    a, c = rows["a"], rows["c"]
    assert a["image"] == disk
    assert a["state-hash"] == h_a["statehash"]
    assert a["icount"] == h_a["icount"] == 1_000_000
    assert c["state-hash"] == h_c["statehash"]
    assert c["icount"] == 3_000_000
    # c was saved after loading a: a is its parent; a has none.
    assert c["parent-row"] == a["row"]
    assert "parent-row" not in a
    assert len(a["config-fingerprint"]) == 64
    assert a["config-fingerprint"] == c["config-fingerprint"]


@needs_fw
def test_images_are_reconciled_when_rrvm_opens_them(rrvm, tmp_path, catalog):
    disk = qcow2(tmp_path, "d.qcow2")
    sock = str(tmp_path / "q.sock")
    p, q = start(rrvm, uboot(disk), sock)
    run_to(q, 500_000)
    q.hmp("savevm kept")
    q.hmp("savevm dropped")
    finish(p, q)
    # Between runs qemu-img makes one snapshot and deletes another.
    run(["qemu-img", "snapshot", "-c", "by-qemu-img", disk])
    run(["qemu-img", "snapshot", "-d", "dropped", disk])
    p, q = start(rrvm, uboot(disk), sock)
    rows = by_tag(q.cmd("__org.rrvm_query-catalog")["return"])
    assert sorted(rows) == ["by-qemu-img", "kept"]
    assert rows["by-qemu-img"]["vm-state-size"] == 0
    assert "state-hash" in rows["kept"]
    assert WARNING not in quit_and_stderr(p, q)


@needs_fw
def test_image_taken_back_after_a_migration_is_reconciled(
        rrvm, tmp_path, monkeypatch):
    """A destination opens its disk inactive at start-up; the source saves
    a snapshot to it before migrating; when the destination takes the disk
    at the end of the stream, its catalog learns the snapshot (as it would
    at a start), and so does the source's after `cont` takes it back."""
    disk = qcow2(tmp_path, "d.qcow2")
    src_cat, dst_cat = tmp_path / "src.sqlite", tmp_path / "dst.sqlite"
    mig = tmp_path / "mig.sock"
    monkeypatch.setenv("RRVM_CATALOG", str(dst_cat))
    pd, qd = start(rrvm, uboot(disk, "-incoming", f"unix:{mig}"),
                   str(tmp_path / "d.sock"))
    assert qd.cmd("__org.rrvm_query-catalog")["return"] == []
    monkeypatch.setenv("RRVM_CATALOG", str(src_cat))
    ps, qs = start(rrvm, uboot(disk), str(tmp_path / "s.sock"))
    run_to(qs, 300_000)
    assert qs.hmp("savevm before") == ""
    qs.cmd("migrate", uri=f"unix:{mig}")
    for q in (qs, qd):
        for _ in range(600):
            st = q.cmd("query-migrate")["return"].get("status")
            if st in ("completed", "failed"):
                break
            ts.time.sleep(0.05)
        assert st == "completed"
    rows = qd.cmd("__org.rrvm_query-catalog")["return"]
    assert [(r["name"], r["vm-state-size"] > 0) for r in rows] == \
        [("before", True)]
    # The destination saves and deletes; the source takes the disk back.
    assert qd.hmp("savevm after") == ""
    assert qd.hmp("delvm before") == ""
    finish(pd, qd)
    assert [r["name"] for r in
            qs.cmd("__org.rrvm_query-catalog")["return"]] == ["before"]
    assert "error" not in qs.cmd("cont")
    assert [r["name"] for r in
            qs.cmd("__org.rrvm_query-catalog")["return"]] == ["after"]
    assert WARNING not in quit_and_stderr(ps, qs)
    assert WARNING not in pd.stderr.read().decode()


@needs_fw
@pytest.mark.parametrize("kind", ["corrupt", "unopenable"])
def test_broken_catalog_warns_once_and_savevm_succeeds(rrvm, tmp_path,
                                                       monkeypatch, kind):
    if kind == "corrupt":
        cat = tmp_path / "catalog.sqlite"
        cat.write_bytes(b"this is not a sqlite database\n" * 200)
    else:
        cat = tmp_path / "a-directory"
        cat.mkdir()
    before = cat.read_bytes() if kind == "corrupt" else None
    monkeypatch.setenv("RRVM_CATALOG", str(cat))
    disk = qcow2(tmp_path, "d.qcow2")
    p, q = start(rrvm, uboot(disk), str(tmp_path / "q.sock"))
    run_to(q, 500_000)
    assert q.hmp("savevm one") == ""
    r = q.cmd("snapshot-save", **{"job-id": "j", "tag": "two",
                                  "vmstate": "virtio0",
                                  "devices": ["virtio0"]})
    assert r == {"return": {}}
    q.wait_event("JOB_STATUS_CHANGE")
    assert q.hmp("delvm one") == ""
    assert q.hmp("loadvm two") == ""
    err = quit_and_stderr(p, q)
    assert err.count(WARNING) == 1, err
    assert len(err.strip().split("\n")) == 1, err
    out = run(["qemu-img", "snapshot", "-l", disk]).stdout
    assert " two " in out and " one " not in out
    run(["qemu-img", "check", disk])
    if before is not None:
        assert cat.read_bytes() == before


@needs_fw
def test_two_rrvm_processes_share_one_catalog(rrvm, rrvm_img, tmp_path,
                                              catalog):
    disks = [qcow2(tmp_path, f"d{i}.qcow2") for i in range(2)]
    vms = [start(rrvm, uboot(d), str(tmp_path / f"q{i}.sock"))
           for i, d in enumerate(disks)]
    for _, q in vms:
        run_to(q, 300_000)
    for n in range(5):
        for i, (_, q) in enumerate(vms):
            assert q.hmp(f"savevm s{i}-{n}") == ""
    for p, q in vms:
        assert WARNING not in quit_and_stderr(p, q)
    rows = listing(rrvm_img)
    for i, d in enumerate(disks):
        mine = [r for r in rows if r["image"] == d]
        assert sorted(r["name"] for r in mine) == [f"s{i}-{n}"
                                                   for n in range(5)]
        assert all("state-hash" in r for r in mine)
        # Each process chains its own saves.
        chain = sorted(mine, key=lambda r: r["name"])
        for prev, cur in zip(chain, chain[1:]):
            assert cur["parent-row"] == prev["row"]


# ---- the QMP and HMP catalog commands ----

@needs_fw
def test_catalog_commands(rrvm, rrvm_img, tmp_path, catalog):
    disk = qcow2(tmp_path, "d.qcow2")
    p, q = start(rrvm, uboot(disk), str(tmp_path / "q.sock"))
    run_to(q, 400_000)
    q.hmp("savevm early")
    run_to(q, 900_000)
    q.hmp("savevm late")
    names = {c["name"] for c in q.cmd("query-commands")["return"]}
    for c in ("__org.rrvm_query-catalog", "__org.rrvm_catalog-mark",
              "__org.rrvm_catalog-label", "__org.rrvm_catalog-annotate"):
        assert c in names
    schema = json.dumps(q.cmd("query-qmp-schema")["return"])
    assert "__org.rrvm_catalog-label" in schema
    help_text = q.hmp("help")
    assert "info catalog" in q.hmp("help info")
    assert "catalog_mark" in help_text and "catalog_label" in help_text

    assert q.cmd("__org.rrvm_catalog-mark", snapshot="early",
                 mark="good") == {"return": {}}
    assert q.cmd("__org.rrvm_catalog-mark", image=disk, snapshot="late",
                 mark="bad") == {"return": {}}
    assert q.cmd("__org.rrvm_catalog-label", snapshot="late",
                 label="crash") == {"return": {}}
    assert q.cmd("__org.rrvm_catalog-label", snapshot="late",
                 label="tmp") == {"return": {}}
    assert q.cmd("__org.rrvm_catalog-label", snapshot="late", label="tmp",
                 remove=True) == {"return": {}}
    assert q.cmd("__org.rrvm_catalog-annotate", snapshot="early",
                 note="before the bug") == {"return": {}}
    assert q.hmp("catalog_label early boot") == ""
    assert q.hmp("catalog_annotate late oops at 0x80200000") == ""

    def query(**f):
        return [r["name"] for r in
                q.cmd("__org.rrvm_query-catalog", **f)["return"]]

    assert query() == ["early", "late"]
    assert query(mark="bad") == ["late"]
    assert query(mark="good") == ["early"]
    assert query(label="crash") == ["late"]
    assert query(tag="ea*") == ["early"]
    assert query(**{"icount-min": 500_000}) == ["late"]
    assert query(**{"icount-max": 500_000}) == ["early"]
    assert query(image=disk) == ["early", "late"]
    assert query(image=str(tmp_path / "other.qcow2")) == []

    r = q.cmd("__org.rrvm_catalog-mark", snapshot="nope", mark="good")
    assert r["error"]["class"] == "GenericError"
    r = q.cmd("__org.rrvm_catalog-mark", snapshot="early", mark="meh")
    assert "good, bad or none" in r["error"]["desc"]

    text = q.hmp("info catalog")
    assert f"Image: {disk}" in text
    lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
    early = next(line for line in lines if " early " in line)
    assert "good" in early and "boot" in early
    assert "note: oops at 0x80200000" in text
    assert WARNING not in quit_and_stderr(p, q)

    rows = by_tag(listing(rrvm_img))
    assert rows["early"]["mark"] == "good"
    assert rows["early"]["note"] == "before the bug"
    assert rows["early"]["labels"] == ["boot"]
    assert rows["late"]["labels"] == ["crash"]
    assert rows["late"]["note"] == "oops at 0x80200000"


# ---- rrvm-img snapshot-diff ----

def diff(rrvm_img, disk, a, b, check=True):
    return run([rrvm_img, "snapshot-diff", "--output=json", disk, a, b],
               check=check)


@pytest.fixture
def two_snapshots(rrvm, tmp_path, catalog):
    """U-Boot at its prompt saved as 'before'; then it writes one word of
    RAM page 0x82345000 and sector 0x180 of the disk (cluster 0x30000)
    and is saved as 'after'. Returns (disk, icounts by tag)."""
    disk = qcow2(tmp_path, "d.qcow2")
    g, q = ts.uboot_console(rrvm, disk, str(tmp_path / "s"))
    typed(g, "virtio scan")
    q.cmd("stop")
    before = statehash(q)["icount"]
    assert q.hmp("savevm before") == ""
    q.cmd("cont")
    typed(g, "mw.l 0x82345000 0xdeadbeef 1")
    out = typed(g, "virtio write 0x82345000 0x180 1")
    assert "1 blocks written: OK" in out
    q.cmd("stop")
    after = statehash(q)["icount"]
    assert q.hmp("savevm after") == ""
    q.cmd("quit")
    g.expect(ts.pexpect.EOF)
    return disk, {"before": before, "after": after}


@needs_fw
def test_snapshot_diff_reports_registers_devices_pages_clusters(
        rrvm_img, two_snapshots):
    disk, icounts = two_snapshots
    d = json.loads(diff(rrvm_img, disk, "before", "after").stdout)
    assert d["a"] == {"id": "1", "name": "before",
                      "icount": icounts["before"]}
    assert d["b"]["name"] == "after"
    regs = {r["name"]: (r["a"], r["b"]) for r in d["registers"]}
    assert regs["icount"] == (icounts["before"], icounts["after"])
    assert "x0" not in regs
    # -drive if=virtio takes the last slot, as QEMU's virt board.
    assert "cpu" in d["devices"] and "virtio7" in d["devices"]
    assert "config" not in d["devices"]
    assert d["page-size"] == 4096
    assert 0x82345000 in d["ram-pages"]
    assert 0x83f00000 not in d["ram-pages"]
    assert d["cluster-size"] == 65536
    assert d["disk-clusters"] == [0x30000]
    # By ids, the same answer; the human form names the same things.
    assert json.loads(diff(rrvm_img, disk, "1", "2").stdout) == d
    human = run([rrvm_img, "snapshot-diff", disk, "before", "after"]).stdout
    lines = human.split("\n")
    assert lines[0] == f"Snapshots 'before' (ID 1) and 'after' (ID 2) of {disk}"
    assert any(line.split()[:1] == ["icount"] for line in lines)
    assert "0x82345000" in next(x for x in lines if x.startswith("RAM pages"))
    assert "Disk clusters (64 KiB): 0x30000" in lines


@needs_fw
def test_snapshot_diff_of_a_snapshot_with_itself_is_empty(rrvm_img,
                                                          two_snapshots):
    disk, _ = two_snapshots
    d = json.loads(diff(rrvm_img, disk, "after", "after").stdout)
    assert (d["registers"], d["devices"], d["ram-pages"],
            d["disk-clusters"]) == ([], [], [], [])
    human = run([rrvm_img, "snapshot-diff", disk, "2", "after"]).stdout
    assert human.split("\n")[1:] == ["Registers:", "  none", "Devices: none",
                                     "RAM pages (4 KiB): none",
                                     "Disk clusters (64 KiB): none", ""]


@needs_fw
def test_snapshot_diff_errors(rrvm, rrvm_img, tmp_path, two_snapshots):
    disk, _ = two_snapshots
    before = open(disk, "rb").read()
    p = diff(rrvm_img, disk, "before", "nope", check=False)
    assert (p.returncode, p.stdout) == (1, "")
    assert p.stderr == (f"rrvm-img: Snapshot 'nope' does not exist in "
                        f"'{disk}'\n")
    run(["qemu-img", "snapshot", "-c", "disk-only", disk])
    before = open(disk, "rb").read()
    p = diff(rrvm_img, disk, "disk-only", "after", check=False)
    assert (p.returncode, p.stdout) == (1, "")
    assert p.stderr == ("rrvm-img: Snapshot 'disk-only' is disk-only: it has "
                        "no machine state to compare\n")
    p = run([rrvm_img, "snapshot-diff", disk, "after"], check=False)
    assert p.returncode == 1 and p.stderr.count("\n") == 2
    assert open(disk, "rb").read() == before


@needs_fw
@ts.needs_qemu
def test_snapshot_diff_refuses_a_qemu_vmstate(rrvm_img, tmp_path):
    disk = qcow2(tmp_path, "d.qcow2")
    p, q = start(ts.QEMU, ["-cpu", ts.QEMU_CPU, "-nic", "none", "-display",
                           "none", *ts.uboot_args("-drive",
                                                  f"file={disk},if=virtio")],
                 str(tmp_path / "q"))
    assert q.hmp("savevm s") == ""
    assert q.hmp("savevm t") == ""
    finish(p, q)
    p = diff(rrvm_img, disk, "s", "t", check=False)
    assert (p.returncode, p.stdout) == (1, "")
    assert p.stderr == ("rrvm-img: Snapshot 's' holds a vmstate rrvm did not "
                        "write (made by QEMU?): cannot compare its machine "
                        "state\n")


@needs_fw
def test_qmp_snapshot_diff_equals_rrvm_img(rrvm, rrvm_img, tmp_path,
                                           two_snapshots):
    disk, _ = two_snapshots
    want = json.loads(diff(rrvm_img, disk, "before", "after").stdout)
    p, q = start(rrvm, uboot(disk), str(tmp_path / "q2.sock"))
    got = q.cmd("__org.rrvm_snapshot-diff", a="before", b="after")
    assert got == {"return": want}
    # The disk named another way (relative to rrvm's directory).
    same = q.cmd("__org.rrvm_snapshot-diff", image=os.path.relpath(disk),
                 a="2", b="after")
    assert (same["return"]["registers"], same["return"]["devices"],
            same["return"]["ram-pages"],
            same["return"]["disk-clusters"]) == ([], [], [], [])
    r = q.cmd("__org.rrvm_snapshot-diff", a="before", b="nope")
    assert r["error"]["desc"] == f"Snapshot 'nope' does not exist in '{disk}'"
    human = run([rrvm_img, "snapshot-diff", "-U", disk, "before",
                 "after"]).stdout
    # HMP prints rrvm-img's human form without its title line.
    assert q.hmp("snapshot_diff before after").replace("\r\n", "\n") == \
        human.split("\n", 1)[1].replace("RAM pages (4 KiB):", "RAM pages:") \
        .replace("Disk clusters (64 KiB):", "Disk clusters:")
    assert WARNING not in quit_and_stderr(p, q)


@needs_fw
def test_snapshot_missed_by_the_catalog_appears_at_the_next_start(
        rrvm, tmp_path, monkeypatch):
    """A savevm whose catalog write failed (as after a crash between the
    image write and the catalog write) is in the catalog once rrvm opens
    the image again."""
    disk = qcow2(tmp_path, "d.qcow2")
    cat = tmp_path / "catalog.sqlite"
    cat.mkdir()
    monkeypatch.setenv("RRVM_CATALOG", str(cat))
    sock = str(tmp_path / "q.sock")
    p, q = start(rrvm, uboot(disk), sock)
    run_to(q, 200_000)
    assert q.hmp("savevm missed") == ""
    assert quit_and_stderr(p, q).count(WARNING) == 1
    cat.rmdir()
    p, q = start(rrvm, uboot(disk), sock)
    rows = q.cmd("__org.rrvm_query-catalog")["return"]
    assert [(r["name"], r["icount"], r["image"]) for r in rows] == \
        [("missed", 200_000, disk)]
    assert "state-hash" not in rows[0]
    assert WARNING not in quit_and_stderr(p, q)


@needs_fw
def test_locked_catalog_costs_one_warning_then_recovers(rrvm, rrvm_img,
                                                        tmp_path, catalog):
    disk = qcow2(tmp_path, "d.qcow2")
    p, q = start(rrvm, uboot(disk), str(tmp_path / "q.sock"))
    run_to(q, 300_000)
    # Another process holds the write lock past the busy timeout (5 s).
    db = sqlite3.connect(str(catalog), timeout=0, isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    assert q.hmp("savevm while-locked") == ""
    db.execute("ROLLBACK")
    db.close()
    run_to(q, 600_000)
    h = statehash(q)
    assert q.hmp("savevm after-unlock") == ""
    err = quit_and_stderr(p, q)
    assert err.count(WARNING) == 1, err
    assert "locked" in err or "busy" in err, err
    rows = by_tag(listing(rrvm_img))
    assert sorted(rows) == ["after-unlock", "while-locked"]
    assert rows["after-unlock"]["state-hash"] == h["statehash"]
    assert "state-hash" not in rows["while-locked"]
