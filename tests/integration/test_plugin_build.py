#!/usr/bin/env python3
"""Build the example plugin out of tree exactly as docs/plugins.md says, then
load it with the real binary; a world-writable copy must be refused.

usage: test_plugin_build.py NURTURE_BINARY REPO_ROOT BUILD_DIR

The compile command is read from docs/plugins.md (so the doc and this test
cannot drift apart) and run by the shell with PKG_CONFIG_PATH set to the
uninstalled pkg-config file Meson writes: BUILD_DIR/meson-uninstalled/
nurture-plugin-uninstalled.pc. The plugin goes into a temporary folder of
its own, the way an integrator's tree would be laid out.
"""
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
from nurture_cli import Cli, show  # noqa: E402

DOC_COMMAND = ("cc -shared -fPIC -fvisibility=hidden $(pkg-config --cflags nurture-plugin) "
               "-o log.so log_plugin.c")
WRITABLE = "the file is group- or world-writable (chmod go-w)"


def main():
    nurture, root, build = (os.path.abspath(a) for a in sys.argv[1:4])
    cli = Cli(nurture, "nurture-plugin-build-")
    dirs = [cli.work]
    try:
        check(cli, root, build, dirs)
    finally:
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
    tap.done_testing()


def sh(cmd, cwd, env):
    return subprocess.run(["sh", "-c", cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def check(cli, root, build, dirs):
    # The command integrators are told to run, as the doc shows it.
    with open(os.path.join(root, "docs", "plugins.md"), encoding="utf-8") as f:
        doc = f.read()
    lines = [ln.strip() for ln in doc.splitlines() if ln.strip().startswith("cc -shared")]
    tap.ok(lines, "docs/plugins.md shows a cc -shared command")
    tap.ok(lines and all(ln == DOC_COMMAND for ln in lines),
           "every cc command in docs/plugins.md is the documented one", "\n".join(lines))
    with open(os.path.join(root, "docs", "examples", "log_plugin.c"), encoding="utf-8") as f:
        example = f.read()
    tap.ok(example in re.findall(r"^```c\n(.*?)^```$", doc, re.S | re.M),
           "docs/plugins.md shows docs/examples/log_plugin.c as it is")

    # The uninstalled pkg-config file Meson writes for the build tree.
    pcdir = os.path.join(build, "meson-uninstalled")
    pc = os.path.join(pcdir, "nurture-plugin-uninstalled.pc")
    tap.ok(os.path.isfile(pc), "meson wrote meson-uninstalled/nurture-plugin-uninstalled.pc")
    env = dict(os.environ, PKG_CONFIG_PATH=pcdir)
    env.pop("PKG_CONFIG_DISABLE_UNINSTALLED", None)
    p = sh("pkg-config --cflags nurture-plugin-uninstalled", root, env)
    flags = p.stdout.split()
    tap.ok(p.returncode == 0 and "-I" + os.path.join(root, "include") in flags,
           "pkg-config --cflags nurture-plugin-uninstalled points at the source include/",
           show(p))
    # pkg-config prefers NAME-uninstalled.pc found on PKG_CONFIG_PATH, so the
    # doc's command works unchanged against a build tree too.
    q = sh("pkg-config --cflags nurture-plugin", root, env)
    tap.eq(q.stdout.split(), flags, "with that PKG_CONFIG_PATH, nurture-plugin means the same")

    # Out of tree: the example and nothing else in a folder of its own.
    src = tempfile.mkdtemp(prefix="nurture-log-plugin-")
    dirs.append(src)
    os.chmod(src, 0o755)
    shutil.copy(os.path.join(root, "docs", "examples", "log_plugin.c"), src)
    cmd = DOC_COMMAND.replace("nurture-plugin)", "nurture-plugin-uninstalled)")
    p = sh(cmd, src, env)
    so = os.path.join(src, "log.so")
    if not tap.ok(p.returncode == 0 and os.path.isfile(so), "the example builds: " + cmd, show(p)):
        return
    tap.eq(p.stderr, "", "and the compiler has nothing to say")
    os.chmod(so, 0o755)   # as the doc says: whatever the umask left
    tap.eq(stat.S_IMODE(os.stat(so).st_mode), 0o755, "log.so is mode 0755")
    nm = shutil.which("nm")
    if nm:
        p = subprocess.run([nm, "-D", "--defined-only", so], capture_output=True, text=True)
        # (some linkers also list _init, _fini, _edata …: not the plugin's own)
        names = [ln.split()[-1] for ln in p.stdout.splitlines() if ln.strip()]
        tap.eq([n for n in names if not n.startswith("_")], ["nurture_plugin_entry"],
               "-fvisibility=hidden: the entry symbol is all it exports")

    # Loaded against a fresh database, as `nurture plugins --dir .` in its folder.
    cli.exit_is(cli.run("-q", "init"), 0, "nurture init")
    db = os.path.join(cli.work, "nurture.db")
    p = cli.run("--db", db, "plugins", "--dir", ".", cwd=src)
    cli.exit_is(p, 0, "nurture plugins --dir . loads it (exit 0)")
    tap.ok(re.search(r"^log\s+1\.0\s+loaded\s+\./log\.so$", p.stdout, re.M),
           "it is listed as log 1.0, loaded, from ./log.so", show(p))
    tap.ok(re.search(r"^\s+channel log\s+ok$", p.stdout, re.M), "with its channel log, healthy",
           show(p))
    tap.ok("plugin log 1.0 loaded from ./log.so (1 channel)" in p.stderr, "the log says it loaded",
           show(p))
    p, got = cli.run_json("--db", db, "plugins", "--dir", src)
    tap.eq(got, [{"file": so, "status": "loaded", "name": "log", "version": "1.0",
                  "channels": [{"name": "log", "health": "ok"}]}],
           "--json: the same, from an absolute folder")

    # What it does: a flow's send goes to the daemon log and is recorded sent;
    # plugins.log.prefix reaches the plugin through config_get.
    flows = os.path.join(cli.work, "flows")
    os.mkdir(flows)
    with open(os.path.join(flows, "hello.lua"), "w") as f:
        f.write('return { name = "hello", trigger = { event = "form.submitted" },\n'
                '  run = function(lead)\n'
                '    local ok, info = send("log", { template = "welcome" })\n'
                '    if ok then lead:tag("demo:logged") end\n'
                '  end }\n')
    with open(os.path.join(cli.work, "nurture.conf.lua"), "w") as f:
        f.write('return { database = "nurture.db",\n'
                '  plugins = { dir = %r, log = { prefix = "outbound" } } }\n' % src)
    cli.exit_is(cli.run("-q", "event", "add", "li@example.cn", "form.submitted"), 0, "an event")
    p = cli.run("serve", "--flows", flows, "--once")
    cli.exit_is(p, 0, "nurture serve --once with plugins.dir")
    tap.ok(re.search(r'plugin log: outbound op \d+ lead 1 on log: \{"template":"welcome"\}',
                     p.stderr), "the message is in the daemon log, with the configured prefix",
           show(p))
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT channel, state, provider_id FROM outbox").fetchall()
        tags = con.execute("SELECT count(*) FROM tag WHERE name = 'demo:logged'").fetchone()[0]
    finally:
        con.close()
    tap.ok(len(rows) == 1 and rows[0][:2] == ("log", "sent") and rows[0][2].startswith("log-"),
           "the outbox records it sent with the plugin's provider id", repr(rows))
    tap.eq(tags, 1, "and the flow saw ok")

    # A world-writable copy is refused, with the reason.
    bad = tempfile.mkdtemp(prefix="nurture-writable-plugin-")
    dirs.append(bad)
    copy = os.path.join(bad, "log.so")
    shutil.copy(so, copy)
    os.chmod(copy, 0o777)
    p = cli.run("--db", db, "plugins", "--dir", bad)
    cli.exit_is(p, 1, "a world-writable copy: nurture plugins exits 1")
    tap.ok(re.search(r"^\?\s+refused\s+%s$" % re.escape(copy), p.stdout, re.M) and
           "           refused: " + WRITABLE + "\n" in p.stdout,
           "it is listed as refused, with the reason", show(p))
    tap.ok("plugin %s refused: %s" % (copy, WRITABLE) in p.stderr, "and the log says why", show(p))
    p, got = cli.run_json("--db", db, "plugins", "--dir", bad)
    tap.eq(got, [{"file": copy, "status": "refused", "channels": [], "error": WRITABLE}],
           "--json: refused, no channel, the reason")


if __name__ == "__main__":
    main()
