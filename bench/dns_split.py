#!/usr/bin/env python3
"""Where the time of one lookup goes (bench/dns.sh with DNS_BENCH_SPLIT=1, docs/benchmarks.md).

dns_split.py TRACE fwd|direct VIGILD_PID DNSMASQ_PID
    TRACE: `perf script -F comm,pid,tid,cpu,time,event,trace` of `perf record -a -e
    sched:sched_switch,sched:sched_waking,raw_syscalls:sys_enter,raw_syscalls:sys_exit`
    around one `dns_client.py lookups` run, to the forwarder (fwd) or to dnsmasq (direct).
Prints, for the client's lookups, the median and mean of each step from the client's question
to its answer: who was woken when, the hops between processes, vigild's own work (reading,
learning: the bpf system call, answering). Tracing every system call slows each step by a few
microseconds: compare the two paths' steps with each other, not with untraced figures.
"""
import re
import statistics
import sys

NR_SENDTO, NR_RECVFROM, NR_SENDMSG, NR_RECVMSG = 44, 45, 46, 47
NR_RECVMMSG, NR_SENDMMSG, NR_BPF = 299, 307, 321
LINE = re.compile(r"^\s*(\S+)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$")
NR = re.compile(r"^NR (\d+) ")


def events(path):
    for line in open(path, errors="replace"):
        m = LINE.match(line)
        if not m:
            continue
        _, pid, tid, cpu, t, ev, rest = m.groups()
        nr = NR.match(rest)
        yield {"t": float(t) * 1e6, "pid": int(pid), "tid": int(tid), "cpu": int(cpu), "ev": ev.split(":")[1],
               "rest": rest, "nr": int(nr.group(1)) if nr else -1, "ok": not rest.endswith(("= -11", "= -4"))}


def woken(e, pid):
    return e["ev"] == "sched_waking" and (" pid=%d " % pid) in e["rest"]


def switched_in(e, pid):
    return e["ev"] == "sched_switch" and ("next_pid=%d " % pid) in e["rest"]


def syscall(e, tid, nr, enter):
    return e["tid"] == tid and e["nr"] == nr and e["ev"] == ("sys_enter" if enter else "sys_exit") and (enter or e["ok"])


def client_pid(evs, skip):
    # the lookups client: the first to send a 32-byte question on its fd 3 (send(2) is sendto)
    for e in evs:
        if e["ev"] == "sys_enter" and e["nr"] == NR_SENDTO and e["rest"].startswith("NR 44 (3,") \
                and ", 20," in e["rest"] and e["pid"] not in skip:
            return e["pid"]
    return None


def marks(fwd, cl, vg, dm):
    server = vg if fwd else dm
    # (mark, predicate, the mark that must come first)
    m = [("srv_woken", lambda e: woken(e, server), "q_sent"),
         ("srv_runs", lambda e: switched_in(e, server), "srv_woken"),
         ("q_read", lambda e: syscall(e, server, NR_RECVMMSG if fwd else NR_RECVMSG, False), "q_sent")]
    if fwd:
        m += [("up_sent", lambda e: syscall(e, vg, NR_SENDTO, True), "q_read"),
              ("dm_runs", lambda e: switched_in(e, dm), "up_sent"),
              ("dm_sends", lambda e: syscall(e, dm, NR_SENDMSG, True), "up_sent"),
              ("vg_woken", lambda e: woken(e, vg), "dm_sends"),
              ("up_read", lambda e: syscall(e, vg, NR_RECVFROM, False), "dm_sends"),
              ("learn0", lambda e: syscall(e, vg, NR_BPF, True), "q_read"),
              ("learn1", lambda e: syscall(e, vg, NR_BPF, False), "learn0"),
              # after the upstream answer, or straight after the question (a cache hit: no upstream send)
              ("ans0", lambda e: syscall(e, vg, NR_SENDMMSG, True), "q_read"),
              ("ans1", lambda e: syscall(e, vg, NR_SENDMMSG, False), "ans0")]
    else:
        m += [("ans0", lambda e: syscall(e, dm, NR_SENDMSG, True), "q_read"),
              ("ans1", lambda e: syscall(e, dm, NR_SENDMSG, False), "ans0")]
    m += [("cl_woken", lambda e: woken(e, cl), "ans0"),
          ("cl_runs", lambda e: switched_in(e, cl), "cl_woken"),
          ("answered", lambda e: syscall(e, cl, NR_RECVFROM, False), "ans0")]
    return m


def lookups(evs, fwd, cl, vg, dm):
    out, cur = [], None
    rules = marks(fwd, cl, vg, dm)
    for e in evs:
        if e["pid"] == cl and e["ev"] == "sys_enter" and e["nr"] == NR_SENDTO:
            if cur:
                cur["next"] = e["t"]
                out.append(cur)
            cur = {"q_sent": e["t"]}
            continue
        if cur is None:
            continue
        for name, pred, after in rules:
            if name not in cur and after in cur and pred(e):
                cur[name] = e["t"]
    return out


def main():
    path, mode, vg, dm = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    fwd = mode == "fwd"
    evs = list(events(path))
    cl = client_pid(evs, (vg, dm))
    if cl is None:
        sys.exit("dns_split: no lookup of the client found in %s" % path)
    ls = lookups(evs, fwd, cl, vg, dm)
    steps = [("q_sent", "q_read", "question: client sends -> %s has read it" % ("vigild" if fwd else "dnsmasq")),
             ("q_sent", "srv_woken", "  (it was asleep) client sends -> it is woken"),
             ("srv_woken", "srv_runs", "  woken -> runs")]
    if fwd:
        steps += [("q_read", "up_sent", "vigild: question read -> sent to dnsmasq (parse, match)"),
                  ("up_sent", "dm_sends", "hop: vigild sends -> dnsmasq sends the answer"),
                  ("dm_sends", "up_read", "hop: dnsmasq sends -> vigild has read the answer"),
                  ("dm_sends", "vg_woken", "  (vigild asleep) dnsmasq sends -> vigild woken"),
                  ("up_read", "learn0", "vigild: answer read -> learn (parse, match)"),
                  ("learn0", "learn1", "vigild: learn (bpf map update system call)"),
                  ("learn1", "ans0", "vigild: learned -> answer sent (sendmmsg)"),
                  ("q_read", "ans0", "vigild: question read -> answer sent (cache hits: no question upstream)", "hit")]
    else:
        steps += [("q_read", "ans0", "dnsmasq: question read -> answer sent")]
    steps += [("ans0", "ans1", "the answer's send system call (the client it wakes may run first)"),
              ("ans0", "answered", "hop: answer sent -> client has read it"),
              ("cl_woken", "cl_runs", "  client woken -> runs"),
              ("answered", "next", "client: answer -> TCP connect -> next question"),
              ("q_sent", "answered", "LOOKUP: question -> answer"),
              ("q_sent", "next", "ITERATION: lookup + connect")]
    print("dns_split %s: %d lookups traced" % ("forwarder" if fwd else "direct", len(ls)))
    hit = lambda x: "ans0" in x and not ("up_sent" in x and x["up_sent"] < x["ans0"])
    for a, b, what, *only in steps:
        v = [x[b] - x[a] for x in ls if a in x and b in x and (not only or hit(x))]
        if v:
            print("  %-58s median %7.1f us  mean %7.1f us  (%d)" % (what, statistics.median(v), sum(v) / len(v), len(v)))
    if fwd:
        asleep = sum(1 for x in ls if "srv_woken" in x and x["srv_woken"] < x.get("q_read", 0))
        polled = sum(1 for x in ls if "up_read" in x and not ("vg_woken" in x and x["vg_woken"] < x["up_read"]))
        print("  vigild asleep when the question came: %d of %d; the answer read without a wakeup of vigild's"
              " (it polled, or was still running): %d; answered from the cache: %d; bpf calls for a hit: %d"
              % (asleep, len(ls), polled, sum(map(hit, ls)),
                 sum(1 for x in ls if hit(x) and "learn0" in x and x["learn0"] < x["ans0"])))


if __name__ == "__main__":
    main()
