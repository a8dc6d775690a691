"""Planner benchmark: generated instances (5 candidates per customer, 3 campaigns, the call
centre's capacity and a budget that bind) at 1k, 10k and 100k customers.

    python benchmarks/plan.py                 # the table (medians of --repeat runs)
    python benchmarks/plan.py --sizes 1000    # one size
    python benchmarks/plan.py --example DIR   # write the examples/cycle files (400 customers)
    python benchmarks/plan.py --exact --sizes 200 500 1000 2000 [--time-limit S] [--start]
                                              # the heuristic against the exact MIP's optimum
                                              # (--start: HiGHS from the heuristic's plan)

Columns: customers, candidates, patterns, reading the files (s), eligibility (the evaluator
pass, every core, each distinct customer situation once), the rest (solve s: build, greedy,
bound, polish, reasons), of which the bound and its scenario plan, the block polishing and
the reasons; total wall seconds after reading, CPU seconds (this process and its workers:
on a shared machine, CPU/2 is what two idle cores would take), peak memory (MB, this
process plus its largest worker), objective, bound (holds precedence: bound.py), gap, greedy
objective and the value over greedy in percent; `read cpu` and `elig cpu` are the CPU
seconds of reading and of the eligibility step (every worker), `PSS MB` the peak
proportional set size of this process and its workers together (shared pages counted
once; `peak MB` adds their peak RSS, which counts the workers' shared pages twice). Each
step (read, eligibility, build, greedy, bound, polish, reasons) goes to standard error as it
ends, with its wall and CPU seconds and the peak PSS during it (`#  greedy  wall ...`). `--reuse` reads the instance files
already in `--work`. `--time-limit` caps the bound's cutting
planes and the block polishing, each (60 s as in `policylang plan`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import statistics
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
POLICY = HERE.parent / "examples" / "cycle" / "bank.pol"
MONDAY = dt.datetime(2027, 1, 11, tzinfo=dt.timezone.utc)
SLOTS = [MONDAY + dt.timedelta(days=d, hours=h) for d in range(5) for h in (10, 15)]
CAMPAIGNS = (("boat_loan", "boat_loans", 120.0), ("card_upgrade", "cards", 60.0), ("savings", "service", 40.0))


def instance(customers: int, seed: int = 7) -> dict[str, str]:
    """The text of customers.jsonl, ledger.jsonl, candidates.csv and cycle.toml."""
    rng = random.Random(seed)
    people, ledger, rows = [], [], ["id,customer,team,channel,purpose,campaign,at,value,cost,priority,group"]
    for i in range(customers):
        cid = f"c{i:07d}"
        record: dict[str, object] = {"id": cid, "timezone": "Europe/London",
                                     "owner": rng.choice(["boat_loans", "cards", "service"])}
        if rng.random() < 0.1:
            record["opted_out"] = ["phone"]
        people.append(json.dumps(record))
        for _ in range(rng.choice((0, 0, 1, 2))):
            when = MONDAY - dt.timedelta(days=rng.randint(20, 300), hours=rng.randint(0, 8))
            ledger.append(json.dumps({"customer": cid, "at": when.isoformat(), "channel": "email",
                                      "purpose": "marketing", "team": rng.choice(["boat_loans", "cards"])}))
        n = 0
        for campaign, team, base in CAMPAIGNS:
            propensity = rng.uniform(0.02, 0.3)
            channels = ("phone", "email") if campaign != "savings" else ("letter",)
            slot = rng.choice(SLOTS)
            for channel in channels:
                n += 1
                value = round(base * propensity * (1.8 if channel == "phone" else 1.0), 2)
                cost = {"phone": 6.0, "email": 0.1, "letter": 1.2}[channel]
                group = f"{cid}-{campaign}" if len(channels) > 1 else ""
                rows.append(f"{cid}-{n},{cid},{team},{channel},marketing,{campaign},{slot.isoformat()},"
                            f"{value},{cost},0,{group}")
    budget = round(customers * 3.0, 2)
    calls = max(2, customers // 2)
    cycle = (f"[budget]\ntotal = {budget}\n\n[campaign.boat_loan]\nmin_cell = {max(2, customers // 100)}\n\n"
             f"[campaign.card_upgrade]\nmax_volume = {customers // 2}\n\n[campaign.savings]\nbudget = {customers * 0.5}\n")
    policy = POLICY.read_text().replace("at most 200 phone", f"at most {calls} phone") if customers != 400 else \
        POLICY.read_text()
    return {"customers.jsonl": "\n".join(people) + "\n", "ledger.jsonl": "\n".join(ledger) + "\n",
            "candidates.csv": "\n".join(rows) + "\n", "cycle.toml": cycle, "bank.pol": policy}


def load(files: dict[str, str], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


class PeakMemory:
    """The largest proportional set size (PSS: shared pages split between the processes
    sharing them) of this process and its children, sampled every half second: the forked
    eligibility workers share most of their pages with the parent, so adding their RSS
    counts the same memory twice. Linux only (reads /proc); 0 elsewhere."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self.sample()
            self.peak = max(self.peak, now)
            self.step = max(self.step, now)
            self._stop.wait(0.5)

    step = 0.0  # the peak since the last step ended (Steps resets it)

    @staticmethod
    def sample() -> float:
        pids = [os.getpid()]
        try:
            for task in os.listdir("/proc/self/task"):
                with open(f"/proc/self/task/{task}/children") as handle:
                    pids += [int(p) for p in handle.read().split()]
        except OSError:
            return 0.0
        total = 0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/smaps_rollup") as handle:
                    total += next(int(line.split()[1]) for line in handle if line.startswith("Pss:"))
            except (OSError, StopIteration):
                continue
        return total / 1024


class Steps(dict[str, float]):
    """``plan(timings=...)``: prints each step to standard error as it ends, with its wall and
    CPU seconds and the peak PSS during it (a million customers run for many minutes)."""

    def __init__(self, memory: PeakMemory) -> None:
        super().__init__()
        self.memory = memory

    def __setitem__(self, key: str, value: float) -> None:
        super().__setitem__(key, value)
        if key.endswith(" cpu"):
            name = key[:-4]
            print(f"#  {name:<12} wall {self.get(name, 0.0):8.1f} s  cpu {value:8.1f} s  "
                  f"peak PSS {self.memory.step:8.0f} MB", file=sys.stderr, flush=True)
            self.memory.step = PeakMemory.sample()


def run_once(folder: Path, workers: int | None, time_limit: float) -> dict[str, float]:
    with PeakMemory() as memory:
        out = _run_once(folder, workers, time_limit, memory)
    out["pss"] = memory.peak
    return out


def _run_once(folder: Path, workers: int | None, time_limit: float, memory: PeakMemory) -> dict[str, float]:
    import policylang
    from policylang.commands.plan import read_inputs
    from policylang.plan.planner import plan

    policy = policylang.load(folder / "bank.pol")
    began = time.perf_counter()
    candidates, customers, ledgers, cycle = read_inputs(
        policy, str(folder / "candidates.csv"), str(folder / "customers.jsonl"), str(folder / "ledger.jsonl"),
        str(folder / "cycle.toml"))
    read = time.perf_counter() - began
    cpu = cpu_seconds()
    read_cpu = cpu
    print(f"#  {'read':<12} wall {read:8.1f} s  cpu {read_cpu:8.1f} s  peak PSS {memory.step:8.0f} MB",
          file=sys.stderr, flush=True)
    memory.step = PeakMemory.sample()
    began = time.perf_counter()
    steps = Steps(memory)
    result = plan(policy, candidates, customers, ledgers, cycle, solver="lagrangian", workers=workers,
                  time_limit=time_limit, timings=steps)
    total = time.perf_counter() - began
    cpu = cpu_seconds() - cpu
    summary = result.summary
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    greedy_value = summary["greedy_objective"] or 0.0
    print("#  steps (wall s, cpu s):", ", ".join(f"{k} {v:.1f}" for k, v in steps.items()), file=sys.stderr, flush=True)
    return {"candidates": len(candidates), "patterns": result.problem.patterns, "read": read,
            "eligibility": steps.get("eligibility", 0.0), "solve": total - steps.get("eligibility", 0.0),
            "elig_cpu": steps.get("eligibility cpu", 0.0), "read_cpu": read_cpu,
            "bound_s": steps.get("bound", 0.0), "reasons_s": steps.get("reasons", 0.0), "polish_s": steps.get("polish", 0.0),
            "total": total, "cpu": cpu, "memory": peak, "objective": summary["objective"],
            "bound": summary["bound"], "gap": summary["gap"], "greedy": greedy_value,
            "over_greedy": 100 * (summary["objective"] - greedy_value) / greedy_value if greedy_value else 0.0}


def cpu_seconds() -> float:
    """CPU seconds of this process and its waited-for children (the eligibility workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_exact(folder: Path, workers: int | None, time_limit: float, start: bool) -> dict[str, object]:
    """The heuristic's plan (Lagrangian, then blocks solved exactly) against the exact MIP
    (HiGHS, from nothing or, with ``start``, from the heuristic's plan) on the same problem;
    both plans replayed through the evaluator when the instance is small enough."""
    import policylang
    from policylang.commands.plan import read_inputs
    from policylang.plan import oracle
    from policylang.plan import problem as problem_mod
    from policylang.plan.mip import Model, exact, polish
    from policylang.plan.solve import greedy, lagrangian

    policy = policylang.load(folder / "bank.pol")
    candidates, customers, ledgers, cycle = read_inputs(
        policy, str(folder / "candidates.csv"), str(folder / "customers.jsonl"), str(folder / "ledger.jsonl"),
        str(folder / "cycle.toml"))
    ids, cust, members = problem_mod.customer_jobs(candidates)
    jobs = [(customers[c], list(ledgers.get(c, ())), [candidates.requests[j] for j in members[k]],
             [candidates.group[j] for j in members[k]]) for k, c in enumerate(ids)]
    problem = problem_mod.build(policy, candidates, customers, ledgers, cycle, ids, cust, members,
                                oracle.eligible_walks(policy, jobs, workers)[0])
    gains = problem.pattern_gain().tolist()
    base = greedy(problem)
    began = time.perf_counter()
    heuristic = lagrangian(problem, members=base.members, start=base)
    model = Model(problem, base.members)
    polished = polish(problem, heuristic.state, time_limit=time_limit, model=model)
    heuristic_s = time.perf_counter() - began
    optimum = exact(problem, time_limit=time_limit, model=model, start=polished if start else None)
    out: dict[str, object] = {
        "customers": problem.customers, "patterns": problem.patterns, "greedy": base.objective(gains),
        "lagrangian": heuristic.objective, "heuristic": polished.objective(gains), "heuristic_s": heuristic_s,
        "lagrangian_bound": heuristic.bound,
        "exact": optimum.objective, "exact_bound": optimum.bound, "exact_s": optimum.seconds,
        "status": optimum.method,
    }
    if problem.customers <= 200:
        from policylang.plan.verify import problems

        out["replay"] = "clean" if not any(
            problems(policy, candidates, customers, ledgers, cycle, plan.granted().tolist())
            for plan in (optimum.state, polished)) else "BROKEN"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--example", type=Path, help="write the example's files into this folder and stop")
    parser.add_argument("--exact", action="store_true",
                        help="compare the heuristic with the exact MIP's optimum (sizes of a few thousand)")
    parser.add_argument("--time-limit", type=float, default=60.0,
                        help="HiGHS's time limit (--exact) and the block polishing's, seconds")
    parser.add_argument("--start", action="store_true",
                        help="--exact: HiGHS starts from the heuristic's plan (else from nothing)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/policylang-plan-bench"))
    parser.add_argument("--reuse", action="store_true",
                        help="use the instance files already in --work (a million customers take minutes to write)")
    args = parser.parse_args(argv)
    if args.example:
        files = instance(400, seed=2027)
        del files["bank.pol"]
        load(files, args.example)
        return 0
    if args.exact:
        print(f"{'customers':>9} {'patterns':>8} {'greedy':>11} {'lagrangian':>11} {'heuristic':>11} {'heur s':>6} "
              f"{'exact':>11} {'exact bound':>11} {'exact s':>7} {'heur/exact':>10}  status")
        for size in args.sizes:
            r = run_exact(load(instance(size), args.work / str(size)), args.workers, args.time_limit, args.start)
            exact_value = float(r["exact"])  # type: ignore[arg-type]
            # HiGHS past its time limit may hold only the empty plan (value 0): no ratio then
            ratio = 100 * float(r["heuristic"]) / exact_value if exact_value > 0 else float("nan")  # type: ignore[arg-type]
            print(f"{r['customers']:>9} {r['patterns']:>8} {r['greedy']:>11.2f} {r['lagrangian']:>11.2f} {r['heuristic']:>11.2f} "
                  f"{r['heuristic_s']:>6.1f} {r['exact']:>11.2f} {r['exact_bound']:>11.2f} {r['exact_s']:>7.1f} "
                  f"{ratio:>9.3f}%  {r['status']} {r.get('replay', '')}", flush=True)
        return 0
    print(f"{'customers':>10} {'candidates':>10} {'patterns':>9} {'read s':>6} {'read cpu':>8} {'elig s':>7} "
          f"{'elig cpu':>8} {'solve s':>7} {'bound s':>7} {'polish s':>8} {'reasons s':>9} {'total s':>7} {'cpu s':>7} "
          f"{'peak MB':>8} {'PSS MB':>7} {'objective':>12} {'bound':>12} {'gap %':>7} {'greedy':>12} {'+greedy %':>9}")
    for size in args.sizes:
        folder = args.work / str(size)
        if not (args.reuse and (folder / "cycle.toml").is_file()):
            folder = load(instance(size), folder)
        runs = [run_once(folder, args.workers, args.time_limit) for _ in range(args.repeat)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"{size:>10} {med['candidates']:>10.0f} {med['patterns']:>9.0f} {med['read']:>6.1f} {med['read_cpu']:>8.1f} "
              f"{med['eligibility']:>7.1f} {med['elig_cpu']:>8.1f} "
              f"{med['solve']:>7.1f} {med['bound_s']:>7.1f} {med['polish_s']:>8.1f} {med['reasons_s']:>9.1f} "
              f"{med['total']:>7.1f} {med['cpu']:>7.1f} {med['memory']:>8.0f} {med['pss']:>7.0f} {med['objective']:>12.2f} "
              f"{med['bound']:>12.2f} {100 * med['gap']:>7.4f} {med['greedy']:>12.2f} {med['over_greedy']:>9.2f}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
