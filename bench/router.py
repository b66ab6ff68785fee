"""Router lookup cost: pure vs compiled twin, 10 vs 1,000 routes (a few seconds, bounded).

    python bench/router.py

Half the routes have parameters; the matched routes are registered last. Prints
microseconds per ``match()`` (the best of a few timeit repeats) and which builds ran.
"""

from __future__ import annotations

import platform
import sys
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyre._accel import load_twins  # noqa: E402

NUMBER = 20_000  # calls per repeat
REPEAT = 5

# The routes the measured paths match, registered after the fillers.
TARGETS = [
    "/api/static/target",
    "/api/items/{id:int}",
    "/api/users/{uid:int}/posts/{slug}/comments/{cid:int}",
]
# (label, path, the target it must match or None)
CASES = [
    ("static hit", "/api/static/target", TARGETS[0]),
    ("1 param (int)", "/api/items/42", TARGETS[1]),
    ("3 params (int, str, int)", "/api/users/7/posts/hello-world/comments/99", TARGETS[2]),
    ("miss (fails 5 levels deep)", "/api/users/7/posts/hello-world/comments/x", None),
]


def build(module: Any, count: int) -> Any:
    """A router of ``count`` routes: half static, half with two parameters, targets last."""
    router = module.Router()
    fillers = count - len(TARGETS)
    for i in range(fillers):
        if i % 2:
            router.add(f"/api/p{i}/{{id:int}}/{{name}}", f"filler {i}")
        else:
            router.add(f"/api/s{i}/info", f"filler {i}")
    for pattern in TARGETS:
        router.add(pattern, pattern)
    return router


def per_call_us(router: Any, path: str) -> float:
    timer = timeit.Timer("match(path)", globals={"match": router.match, "path": path})
    return min(timer.repeat(repeat=REPEAT, number=NUMBER)) / NUMBER * 1e6


def main() -> None:
    twins = load_twins("router")
    builds = [("pure", twins["py"])]
    if twins["c"] is None:
        print("compiled router not built (python setup.py build_ext --inplace): pure only")
    else:
        builds.append(("compiled", twins["c"]))
    for label, module in builds:
        print(f"{label}: {module.__name__} (cython.compiled={module.COMPILED})")
    print(f"{platform.python_implementation()} {platform.python_version()}; {NUMBER} calls x best of {REPEAT}")
    print()
    columns = [(label, module, count) for label, module in builds for count in (10, 1000)]
    header = f"{'us per match()':<28}" + "".join(f"{f'{label} {count}':>15}" for label, _, count in columns)
    print(header)
    print("-" * len(header))
    routers = {(label, count): build(module, count) for label, module, count in columns}
    for case, path, target in CASES:
        row = f"{case:<28}"
        for label, _, count in columns:
            router = routers[label, count]
            found = router.match(path)
            assert (found and found[0]) == target, (label, count, case, found)
            row += f"{per_call_us(router, path):>15.3f}"
        print(row)


if __name__ == "__main__":
    main()
