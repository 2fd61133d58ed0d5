"""Job-shop scheduling without I/O: the ft06 instance, priority rules, Giffler-Thompson.

The job-shop example's agents use these pieces; they are kept apart so that the
scheduling can be read (and tested) without the protocol around it.

Giffler and Thompson (1960) build an *active* schedule one operation at a time: among the
next operation of every job, take the one that can end first (``C*``, on machine ``M*``);
every operation waiting for ``M*`` that could start before ``C*`` is in conflict with it;
a priority rule picks one of the conflict set, which is scheduled. Every active schedule
can be built this way, the optimal ones included, so the rule (and its tie-breaks) is all
that separates a poor schedule from the optimum.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "FT06",
    "FT06_OPTIMUM",
    "Bid",
    "Jobs",
    "Operation",
    "Rule",
    "gt_choice",
    "parse_orlib",
    "rehearse",
    "rules",
]

#: Fisher and Thompson's 6x6 instance as published in the OR-Library (jobshop1.txt): a line
#: per job, its operations in order as (machine, duration) pairs, machines numbered from 0.
FT06 = """\
 instance ft06
 +++++++++++++++++++++++++++++
 Fisher and Thompson 6x6 instance, alternate name (mt06)
 6 6
 2  1  0  3  1  6  3  7  5  3  4  6
 1  8  2  5  4 10  5 10  0 10  3  4
 2  5  3  4  5  8  0  9  1  1  4  7
 1  5  0  5  2  5  3  3  4  8  5  9
 2  9  1  3  4  5  5  4  0  3  3  1
 1  3  3  3  5  9  0 10  4  4  2  1
 +++++++++++++++++++++++++++++
"""
#: The proven optimal makespan of ft06.
FT06_OPTIMUM = 55


@dataclass(frozen=True, slots=True)
class Operation:
    """Step ``step`` of job ``job``: ``duration`` time units on machine ``machine``."""

    job: int
    step: int
    machine: int
    duration: int


@dataclass(frozen=True, slots=True)
class Bid:
    """When a machine can run an operation: from ``start`` to ``end``."""

    job: int
    step: int
    machine: int
    start: int
    end: int


def parse_orlib(text: str) -> list[list[Operation]]:
    """The jobs of an OR-Library job-shop instance: the line ``n m``, then ``n`` lines of
    ``m`` (machine, duration) pairs. Lines before the size line are the header."""
    rows = [line.split() for line in text.splitlines()]
    numeric = [r for r in rows if r and all(token.isdigit() for token in r)]
    (n_jobs, n_machines), body = map(int, numeric[0]), numeric[1:]
    if len(body) != n_jobs or any(len(r) != 2 * n_machines for r in body):
        raise ValueError(f"expected {n_jobs} rows of {n_machines} pairs")
    return [
        [
            Operation(job, step, int(row[2 * step]), int(row[2 * step + 1]))
            for step in range(n_machines)
        ]
        for job, row in enumerate(body)
    ]


@dataclass
class Jobs:
    """The dispatcher's book of the jobs: what is next, from when, and what is left."""

    routes: Sequence[Sequence[Operation]]
    due: Sequence[int]
    next_step: list[int] = field(init=False)
    ready: list[int] = field(init=False)
    work_left: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.next_step = [0] * len(self.routes)
        self.ready = [0] * len(self.routes)
        self.work_left = [sum(op.duration for op in route) for route in self.routes]

    @property
    def done(self) -> bool:
        return all(n == len(r) for n, r in zip(self.next_step, self.routes, strict=True))

    def schedulable(self) -> list[Operation]:
        """The next operation of every unfinished job, by job."""
        return [
            route[n] for route, n in zip(self.routes, self.next_step, strict=True) if n < len(route)
        ]

    def ops_left(self, job: int) -> int:
        return len(self.routes[job]) - self.next_step[job]

    def book(self, bid: Bid) -> None:
        """Record that ``bid`` was awarded: the job moves on to its next step."""
        op = self.routes[bid.job][self.next_step[bid.job]]
        if (op.step, op.machine) != (bid.step, bid.machine) or bid.end - bid.start != op.duration:
            raise ValueError(f"{bid} is not job {bid.job}'s next operation {op}")
        self.next_step[bid.job] += 1
        self.ready[bid.job] = bid.end
        self.work_left[bid.job] -= op.duration


#: Priority rules: lower key first. ``FIFO`` is the earliest possible start.
RULE_NAMES = ("SPT", "LPT", "MWKR", "LWKR", "MOPNR", "EDD", "FIFO")


@dataclass(frozen=True, slots=True)
class Rule:
    """A priority rule for the conflict set, optionally with seeded noise per operation.

    Attributes:
        name: how reports call it.
        base: one of :data:`RULE_NAMES`.
        noise: ``noise[job][step]`` added to the key (random tie-breaks), or empty.
    """

    name: str
    base: str
    noise: tuple[tuple[float, ...], ...] = ()

    def key(self, bid: Bid, jobs: Jobs) -> float:
        base, job = self.base, bid.job
        value: float
        if base == "SPT":
            value = jobs.routes[job][bid.step].duration
        elif base == "LPT":
            value = -jobs.routes[job][bid.step].duration
        elif base == "MWKR":
            value = -jobs.work_left[job]
        elif base == "LWKR":
            value = jobs.work_left[job]
        elif base == "MOPNR":
            value = -jobs.ops_left(job)
        elif base == "EDD":
            value = jobs.due[job]
        else:
            value = bid.start
        return value + (self.noise[job][bid.step] if self.noise else 0.0)


def rules(
    routes: Sequence[Sequence[Operation]], *, seed: int, passes: int, spread: float = 4.0
) -> list[Rule]:
    """The plain rules, then ``passes`` passes of most-work-remaining with seeded noise of
    up to ``spread`` time units per operation (which breaks its many ties differently)."""
    plain = [Rule(name, name) for name in RULE_NAMES]
    noisy = []
    for n in range(passes):
        rng = random.Random(seed * 1_000_003 + n)
        noise = tuple(tuple(rng.random() * spread for _ in route) for route in routes)
        noisy.append(Rule(f"MWKR, seeded tie-breaks #{n + 1}", "MWKR", noise))
    return plain + noisy


def gt_choice(bids: Sequence[Bid], rule: Rule, jobs: Jobs) -> Bid:
    """The Giffler-Thompson choice among the bids for the schedulable operations."""
    first = min(bids, key=lambda b: (b.end, b.machine))
    conflict = [b for b in bids if b.machine == first.machine and b.start < first.end]
    return min(conflict, key=lambda b: (rule.key(b, jobs), b.job))


def rehearse(routes: Sequence[Sequence[Operation]], due: Sequence[int], rule: Rule) -> list[Bid]:
    """The schedule ``rule`` gives on a model of the machines (each free after its last
    operation), in the order it is built."""
    jobs = Jobs(routes, due)
    free = [0] * (1 + max(op.machine for route in routes for op in route))
    schedule = []
    while not jobs.done:
        bids = []
        for op in jobs.schedulable():
            start = max(jobs.ready[op.job], free[op.machine])
            bids.append(Bid(op.job, op.step, op.machine, start, start + op.duration))
        chosen = gt_choice(bids, rule, jobs)
        jobs.book(chosen)
        free[chosen.machine] = chosen.end
        schedule.append(chosen)
    return schedule
