"""Kill rate per module of the last ``mutmut run`` (``make mutate``), for ``docs/mutation.md``.

Reads ``mutmut results --all true`` (one ``name: status`` line per mutant) and prints, per module,
killed / total and the surviving mutants' names (``mutmut show NAME`` prints a mutant's diff).
Timeouts count as killed (the mutant made the tests hang: they noticed); "no tests" mutants are
listed, since no test reaches them.
"""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path

KILLED = {"killed", "timeout", "caught by type check"}


def main() -> int:
    out = subprocess.run(
        [str(Path(sys.executable).parent / "mutmut"), "results", "--all", "true"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    by_module: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if not name:
            continue
        module = name.split(".x_")[0].split(".xǁ")[0]
        by_module[module][status].append(name)
    print("| module | killed | total | kill rate | not killed |")
    print("| --- | ---: | ---: | ---: | --- |")
    for module, statuses in sorted(by_module.items()):
        total = sum(len(v) for v in statuses.values())
        killed = sum(len(v) for s, v in statuses.items() if s in KILLED)
        others = ", ".join(f"{len(v)} {s}" for s, v in sorted(statuses.items()) if s not in KILLED)
        print(f"| `{module}` | {killed} | {total} | {killed / total:.0%} | {others or '—'} |")
    for module, statuses in sorted(by_module.items()):
        for status, names in sorted(statuses.items()):
            if status not in KILLED:
                print(f"\n{module} — {status}:")
                print("\n".join(f"  {n}" for n in sorted(names)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
