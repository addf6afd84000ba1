#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Runs the targets of vmtest.toml (danobi/vmtest's format) the way vmtest
does, with Debian's packages only: each target's kernel boots under QEMU
with the host's root shared read-only (writes go to a throw-away tmpfs
layer), runs the target's command in the directory of vmtest.toml, and
the target passes when the command exits 0 and the kernel logged no oops,
warning, BUG or panic.

    runner.py [--kernel NAME[,NAME...]] [--suite ci|full] [--jobs N]

Kernels come from tests/vm/fetch-kernel.sh, into the directory the target's
`kernel` path names (build/vm/kernels/NAME/). The target whose kernel is
the running one ("running") runs its command on this host when no image of
the running kernel exists in /boot: the host already runs that kernel.
Logs of each target: build/vm/logs/NAME/. See tests/vm/README.md.
"""

import argparse
import concurrent.futures
import lzma
import os
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import tomllib
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

# The kernel log fails a target when it shows any of these.
BAD_KLOG = re.compile(r"Oops|WARNING:|BUG:|Kernel panic|Call Trace")
# Environment passed into the guest's command (vmtest passes everything;
# the host's environment means little inside the guest, so only these).
ENV_PASS = re.compile(r"^(VM_|TEST_|PS_VM_)[A-Z0-9_]*$|^(OUTPUT|CLANG|V)$")

print_lock = threading.Lock()
started = {}  # pid -> "qemu" | "group": what this runner started, for cleanup
started_lock = threading.Lock()


def say(label, text):
    with print_lock:
        for line in text.splitlines() or [""]:
            sys.stdout.write(f"[{label}] {line}\n")
        sys.stdout.flush()


def fmt_secs(s):
    return "-" if s is None else f"{s:.0f}s" if s >= 10 else f"{s:.1f}s"


# ---- kernel images ---------------------------------------------------------

def pvh_capable(path):
    """True when the ELF file has the Xen PVH entry note QEMU boots through."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return False
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if p_type != 4:  # PT_NOTE
            continue
        off, end = p_offset, p_offset + p_filesz
        while off + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", data, off)
            name = data[off + 12:off + 12 + namesz].rstrip(b"\0")
            if name == b"Xen" and ntype == 18:  # XEN_ELFNOTE_PHYS32_ENTRY
                return True
            off += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False


def extract_vmlinux(bzimage, out):
    """Unpacks the ELF kernel inside a bzImage (boot protocol 2.08+: the
    header gives the compressed payload's offset and length). Returns False
    when the payload's compression is not one handled here."""
    with open(bzimage, "rb") as f:
        d = f.read()
    if d[0x202:0x206] != b"HdrS" or struct.unpack_from("<H", d, 0x206)[0] < 0x208:
        return False
    setup = (d[0x1f1] or 4) + 1
    poff, plen = struct.unpack_from("<II", d, 0x248)
    payload = d[setup * 512 + poff:setup * 512 + poff + plen]
    if payload.startswith(b"\xfd7zXZ\x00"):
        elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
    elif payload.startswith(b"\x1f\x8b"):
        elf = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload)
    elif payload.startswith(b"\x28\xb5\x2f\xfd") and shutil.which("zstd"):
        elf = subprocess.run(["zstd", "-qdc"], input=payload, capture_output=True).stdout
    else:
        return False
    if elf[:4] != b"\x7fELF":
        return False
    with open(out + ".tmp", "wb") as f:
        f.write(elf)
    os.replace(out + ".tmp", out)
    return True


def newer(path, *deps):
    try:
        t = os.path.getmtime(path)
    except OSError:
        return False
    return all(os.path.getmtime(d) <= t for d in deps if os.path.exists(d))


class Kernel:
    """One target's kernel, made ready: image, release, initramfs."""

    def __init__(self, name, kdir):
        self.name, self.dir = name, kdir
        self.image = self.release = self.initramfs = self.modules = None
        self.host = False  # run on this host (the running kernel, no image)
        self.error = None
        self.note = ""

    def prepare(self, label):
        rc = subprocess.run([os.path.join(HERE, "fetch-kernel.sh"), self.name, self.dir]).returncode
        if rc == 3 and self.name == "running":
            self.host, self.release = True, os.uname().release
            self.note = f"no image of the running kernel {self.release} in /boot: runs on this host"
            return
        if rc != 0:
            self.error = f"cannot get kernel {self.name} (fetch-kernel.sh exit {rc})"
            return
        self.release = open(os.path.join(self.dir, "release")).read().strip()
        modroot = os.path.join(self.dir, open(os.path.join(self.dir, "modroot")).read().strip())
        vmlinuz = os.path.realpath(os.path.join(self.dir, "vmlinuz"))
        # Booting the ELF kernel through PVH skips the in-guest inflate (~4 s under TCG).
        vmlinux = os.path.join(self.dir, "vmlinux")
        self.image = vmlinuz
        try:
            if newer(vmlinux, vmlinuz) or extract_vmlinux(vmlinuz, vmlinux):
                if pvh_capable(vmlinux):
                    self.image = vmlinux
        except (OSError, lzma.LZMAError, zlib.error) as e:
            say(label, f"cannot unpack {vmlinuz} ({e}); booting it as it is")
        self.initramfs = os.path.join(self.dir, "initramfs.cpio")
        deps = [vmlinuz, os.path.join(HERE, "init"), os.path.join(HERE, "mkinitramfs.sh")]
        if not newer(self.initramfs, *deps):
            say(label, f"building the initramfs for {self.release}")
            r = subprocess.run([os.path.join(HERE, "mkinitramfs.sh"), modroot, self.release, self.initramfs])
            if r.returncode != 0:
                self.error = f"cannot build the initramfs of {self.release}"
                return
        for sub in ("lib/modules", "usr/lib/modules"):
            d = os.path.join(modroot, sub, self.release)
            if os.path.isdir(d):
                self.modules = os.path.abspath(d)
                break


# ---- running one target ------------------------------------------------------

def kvm_usable():
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return bool(re.search(r"^flags\s*:.*\b(vmx|svm)\b", flags, re.M)) and os.access("/dev/kvm", os.R_OK | os.W_OK)


class Result:
    def __init__(self, name):
        self.name = name
        self.release = self.mode = None
        self.boot = self.suite = self.total = None
        self.ok = False
        self.why = ""
        self.failures = []  # (case, its last log lines) from the suite's output


def write_job(path, root, command, env):
    """The script the guest (or the host) runs: vmtest's contract, the
    command run by bash in the directory of vmtest.toml."""
    lines = ["# written by tests/vm/runner.py", f"cd {shlex.quote(root)} || exit 125"]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items())]
    lines += [command, ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def stream(pipe, label, logpath):
    with open(logpath, "wb") as log:
        for raw in iter(pipe.readline, b""):
            log.write(raw)
            log.flush()
            say(label, raw.decode("utf-8", "replace").rstrip("\r\n"))


def read_failures(path, keep=12):
    """The cases tests/run.sh and the guest suite reported as "not ok", each
    with the last lines of the log printed under it (indented)."""
    out, case, body = [], None, []
    try:
        lines = open(path, errors="replace").read().splitlines()
    except OSError:
        return out
    for line in lines + [""]:
        if case is not None and line.startswith("    "):
            body.append(line)
            continue
        if case is not None:
            out.append((case, body[-keep:]))
            case = None
        m = re.match(r"^not ok - (\S+)", line)
        if m:
            case, body = m.group(1), []
    return out


def read_status(path):
    st = {}
    try:
        for line in open(path, errors="replace"):
            parts = line.split()
            if len(parts) == 2 and parts[0].startswith("PS_VM_"):
                st[parts[0]] = parts[1]
    except OSError:
        pass
    return st


def stop(proc, group=False):
    """Ends a process this runner started: SIGTERM, then SIGKILL."""
    sig = (lambda s: os.killpg(proc.pid, s)) if group else (lambda s: os.kill(proc.pid, s))
    for s, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            return
        try:
            sig(s)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            pass


def check_klog(label, res, texts):
    """Fails the result when a kernel log shows trouble, and prints that log."""
    for what, text in texts:
        if text and BAD_KLOG.search(text):
            res.ok = False
            res.why = (res.why + "; " if res.why else "") + "kernel log shows " + \
                ", ".join(sorted(set(BAD_KLOG.findall(text))))
            say(label, f"---- kernel log ({what}) ----")
            say(label, text.rstrip("\n"))
            say(label, "---- end of kernel log ----")
            return


def run_vm(t, k, args, root, logdir):
    label, res = t["name"], Result(t["name"])
    res.release = k.release
    vm = t.get("vm", {})
    accel = os.environ.get("VM_ACCEL") or ("kvm" if kvm_usable() else "tcg")
    res.mode = accel
    job = os.path.join(logdir, "job.sh")
    write_job(job, root, t["command"], {**args.env, "VM_ACCEL": accel})
    files = {n: os.path.join(logdir, n) for n in ("console.log", "status.log", "dmesg.log", "output.log", "qemu.log")}
    for f in files.values():
        open(f, "w").close()
    cmdline = ["console=ttyS0,115200", "loglevel=5", "panic=-1", "rdinit=/init",
               f"ps.job={job}"]
    if k.modules:
        cmdline.append(f"ps.modules={k.modules}")
    # Fresh tmpfs on /run and /tmp, but not over the command's directory.
    cmdline.append("ps.tmpfs=" + ",".join(d for d in ("/run", "/tmp")
                                          if not (root + "/").startswith(d + "/")))
    if accel == "tcg":
        # TCG runs the guest several times slower than the hardware, on a
        # host that may be busy: give the lockup and RCU stall detectors
        # time (their reports would fail the target) without turning them off.
        cmdline += ["watchdog_thresh=60", "rcupdate.rcu_cpu_stall_timeout=120"]
    if t.get("kernel_args"):
        cmdline += t["kernel_args"].split()
    qemu = [t.get("qemu_command") or "qemu-system-x86_64",
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-smp", str(vm.get("num_cpus", 2)), "-m", str(vm.get("memory", "4G"))]
    qemu += ["-accel", "kvm", "-cpu", t.get("kvm_cpu_args") or "host"] if accel == "kvm" else \
        ["-accel", "tcg,thread=multi", "-cpu", "max"]
    qemu += ["-kernel", k.image, "-initrd", k.initramfs, "-append", " ".join(cmdline),
             "-virtfs", "local,path=/,mount_tag=hostroot,readonly=on,security_model=none,multidevs=remap,id=hostroot",
             "-chardev", f"file,id=console,path={files['console.log']}", "-serial", "chardev:console",
             "-chardev", f"file,id=status,path={files['status.log']}", "-serial", "chardev:status",
             "-device", "virtio-serial-pci,id=vser",
             "-chardev", "stdio,id=out,signal=off", "-device", "virtconsole,chardev=out",
             "-chardev", f"file,id=dmesg,path={files['dmesg.log']}",
             "-device", "virtserialport,chardev=dmesg,name=ps.dmesg"]
    # vmtest.toml's vm.extra_args are for vmtest (they hand it our initramfs).
    say(label, f"booting {k.release} ({os.path.basename(k.image)}, {accel}, "
               f"{vm.get('num_cpus', 2)} CPUs, {vm.get('memory', '4G')})")
    t0 = time.monotonic()
    with open(files["qemu.log"], "wb") as qlog:
        proc = subprocess.Popen(qemu, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=qlog)
    with started_lock:
        started[proc.pid] = ("qemu", proc)
    reader = threading.Thread(target=stream, args=(proc.stdout, label, files["output.log"]), daemon=True)
    reader.start()
    t_start = None
    timed_out = False
    while proc.poll() is None:
        time.sleep(0.25)
        now = time.monotonic()
        if t_start is None and "PS_VM_START" in read_status(files["status.log"]):
            t_start = now
            res.boot = now - t0
        if now - t0 > args.timeout:
            timed_out = True
            say(label, f"timed out after {args.timeout}s: stopping QEMU (pid {proc.pid})")
            stop(proc)
            break
    proc.wait()
    with started_lock:
        started.pop(proc.pid, None)
    reader.join(timeout=10)
    t_end = time.monotonic()
    res.total = t_end - t0
    if t_start is not None:
        res.suite = t_end - t_start
    st = read_status(files["status.log"])
    console = open(files["console.log"], errors="replace").read()
    dmesg = open(files["dmesg.log"], errors="replace").read()
    if timed_out:
        res.why = f"timed out after {args.timeout}s"
    elif "PS_VM_EXIT" not in st:
        res.why = f"the guest ended without an exit status (QEMU exit {proc.returncode})"
    else:
        rc = int(st["PS_VM_EXIT"])
        res.ok = rc == 0
        if "PS_VM_SETUP_FAILED" in st:
            res.why = "the guest could not set up its root (see the serial console)"
        elif not res.ok:
            res.why = f"command exited {rc}"
    if not res.ok:
        qerr = open(files["qemu.log"], errors="replace").read().strip()
        if qerr:
            say(label, "---- QEMU's messages ----\n" + qerr)
    # The guest's whole kernel log when it got to send it, else what the
    # serial console saw (a guest that panicked or hung).
    if dmesg:
        check_klog(label, res, [("dmesg", dmesg)])
    else:
        check_klog(label, res, [("serial console", console)])
        if not res.ok and not BAD_KLOG.search(console):
            say(label, "---- serial console (last 60 lines) ----\n" + "\n".join(console.splitlines()[-60:]))
    res.failures = read_failures(files["output.log"])
    return res


def kmsg_open():
    """Opens /dev/kmsg at its end, to read what the kernel logs from now on."""
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(fd, 0, os.SEEK_END)
        return fd
    except OSError:
        return None


def kmsg_read(fd):
    out = []
    while True:
        try:
            rec = os.read(fd, 8192)
        except BlockingIOError:
            break
        except BrokenPipeError:  # records overwritten before we read them
            out.append("(some kernel messages were lost)")
            continue
        except OSError:
            break
        if not rec:
            break
        head, _, msg = rec.decode("utf-8", "replace").partition(";")
        fields = head.split(",")
        ts = float(fields[2]) / 1e6 if len(fields) > 2 and fields[2].isdigit() else 0
        out.append(f"[{ts:12.6f}] " + msg.split("\n")[0])
    os.close(fd)
    return "\n".join(out) + ("\n" if out else "")


def run_host(t, k, args, root, logdir):
    label, res = t["name"], Result(t["name"])
    res.release, res.mode = k.release, "host"
    job = os.path.join(logdir, "job.sh")
    write_job(job, root, t["command"], {**args.env, "VM_ACCEL": "host"})
    say(label, k.note)
    kfd = kmsg_open()
    t0 = time.monotonic()
    env = {k_: v for k_, v in os.environ.items() if not ENV_PASS.match(k_)}
    proc = subprocess.Popen(["bash", job], cwd=root, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True, env=env)
    with started_lock:
        started[proc.pid] = ("group", proc)
    reader = threading.Thread(target=stream, args=(proc.stdout, label, os.path.join(logdir, "output.log")),
                              daemon=True)
    reader.start()
    try:
        proc.wait(timeout=args.timeout)
        res.ok = proc.returncode == 0
        res.why = "" if res.ok else f"command exited {proc.returncode}"
    except subprocess.TimeoutExpired:
        say(label, f"timed out after {args.timeout}s: stopping the command (process group {proc.pid})")
        stop(proc, group=True)
        res.why = f"timed out after {args.timeout}s"
    with started_lock:
        started.pop(proc.pid, None)
    reader.join(timeout=10)
    res.boot, res.suite = 0.0, time.monotonic() - t0
    res.total = res.suite
    if kfd is not None:
        klog = kmsg_read(kfd)
        with open(os.path.join(logdir, "dmesg.log"), "w") as f:
            f.write(klog)
        check_klog(label, res, [("kernel messages during the run", klog)])
    res.failures = read_failures(os.path.join(logdir, "output.log"))
    return res


# ---- main ----------------------------------------------------------------------

def validate(targets):
    """vmtest's own checks, so a config that passes here passes there."""
    for i, t in enumerate(targets):
        if not t.get("name"):
            sys.exit(f"vmtest.toml: target {i}: empty name")
        if ("image" in t) == ("kernel" in t):
            sys.exit(f"vmtest.toml: target '{t['name']}' must specify exactly one of 'image' and 'kernel'")
        if "image" in t:
            sys.exit(f"vmtest.toml: target '{t['name']}': image targets are not supported by this runner")
        if not t.get("command"):
            sys.exit(f"vmtest.toml: target '{t['name']}' has empty command")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-c", "--config", default=os.path.join(os.path.dirname(os.path.dirname(HERE)), "vmtest.toml"))
    ap.add_argument("-k", "--kernel", default="", help="target names, comma-separated (default: all)")
    ap.add_argument("--suite", choices=("ci", "full"), help="VM_SUITE for the command")
    ap.add_argument("-j", "--jobs", type=int, default=int(os.environ.get("VM_JOBS", "0")) or min(2, os.cpu_count() or 1))
    ap.add_argument("--timeout", type=int, help="seconds per target (default: ci 2700, full 7200)")
    ap.add_argument("--logs", default=None, help="log directory (default: build/vm/logs)")
    ap.add_argument("--fetch-only", action="store_true", help="get the kernels and initramfs, boot nothing")
    ap.add_argument("--list", action="store_true", help="list the targets")
    args = ap.parse_args()

    cfg_path = os.path.abspath(args.config)
    root = os.path.dirname(cfg_path)
    with open(cfg_path, "rb") as f:
        targets = tomllib.load(f).get("target", [])
    validate(targets)
    if args.list:
        for t in targets:
            print(f"{t['name']:10} {t['kernel']}")
        return 0
    if args.kernel:
        want = [w for w in re.split(r"[,\s]+", args.kernel) if w]
        unknown = [w for w in want if w not in {t["name"] for t in targets}]
        if unknown:
            sys.exit(f"no target named {', '.join(unknown)} in {cfg_path} (have: "
                     f"{', '.join(t['name'] for t in targets)})")
        targets = [t for t in targets if t["name"] in want]
    if os.geteuid() != 0:
        sys.exit("the kernel matrix runs as root (apt-get download, tests that load BPF programs)")

    suite = args.suite or os.environ.get("VM_SUITE") or "full"
    args.timeout = args.timeout or int(os.environ.get("VM_TIMEOUT", "0")) or (2700 if suite == "ci" else 7200)
    args.env = {k: v for k, v in os.environ.items() if ENV_PASS.match(k)}
    args.env["VM_SUITE"] = suite
    logs = os.path.abspath(args.logs or os.path.join(root, os.environ.get("OUTPUT", "build"), "vm", "logs"))

    kernels = {}
    for t in targets:  # one after the other: apt-get and the caches are shared
        kdir = os.path.dirname(os.path.join(root, t["kernel"]))
        k = Kernel(os.path.basename(kdir), kdir)
        k.prepare(t["name"])
        kernels[t["name"]] = k
        if k.error:
            say(t["name"], k.error)
    if args.fetch_only:
        return 1 if any(k.error for k in kernels.values()) else 0

    def one(t):
        k = kernels[t["name"]]
        logdir = os.path.join(logs, re.sub(r"[^A-Za-z0-9_.-]", "_", t["name"]))
        shutil.rmtree(logdir, ignore_errors=True)
        os.makedirs(logdir)
        if k.error:
            r = Result(t["name"])
            r.why = k.error
            return r
        try:
            return (run_host if k.host else run_vm)(t, k, args, root, logdir)
        except Exception as e:  # report it as this target's failure, run the others
            r = Result(t["name"])
            r.why = f"runner error: {e!r}"
            return r

    def on_signal(signum, _frame):
        with started_lock:
            for pid, (kind, proc) in list(started.items()):
                stop(proc, group=(kind == "group"))
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    t0 = time.monotonic()
    say("vmtest", f"{len(targets)} target(s), suite {suite}, {args.jobs} at a time, timeout {args.timeout}s each")
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        results = list(ex.map(one, targets))
    wall = time.monotonic() - t0

    lines = [f"{'target':8} {'kernel':24} {'mode':5} {'boot':>6} {'suite':>7}  result"]
    for r in results:
        lines.append(f"{r.name:8} {r.release or '-':24} {r.mode or '-':5} {fmt_secs(r.boot):>6} "
                     f"{fmt_secs(r.suite):>7}  {'ok' if r.ok else 'FAILED: ' + r.why}")
        if r.failures:
            lines.append(f"{'':8} failed: {' '.join(c for c, _ in r.failures)}")
    lines.append(f"suite {suite}, {len(results)} target(s), wall {fmt_secs(wall)}; logs in {logs}")
    os.makedirs(logs, exist_ok=True)
    with open(os.path.join(logs, "summary.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with print_lock:
        # What each failed case printed last, so the end of the output (all
        # a CI log may keep) says why, not only that.
        for r in results:
            for case, body in r.failures:
                print(f"\n== {r.name}: not ok - {case} (its last lines; whole log in {logs}/{r.name})")
                print("\n".join(body) if body else "    (nothing printed)")
        print("\n== kernel matrix")
        print("\n".join(lines))
    return 0 if results and all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
