#!/usr/bin/env python3
"""Mutation fuzzing of the shipped scenarios, as a regression check.

Each mutant is a shipped scenario with one random edit (a line deleted or
duplicated, a number made extreme, the file truncated, random bytes
inserted), drawn from one seed. The release binary runs it with a short
run and a timeout; it must exit 0, 1 or 2, print no panic and not be
killed by a signal or the timeout. A failing mutant is kept in --keep.

    python3 scripts/mutate-scenarios.py --count 300 --seed 1
    python3 scripts/mutate-scenarios.py --count 5000 --seed 2 --hostile

--hostile adds absurd magnitudes (4294967295, 1e300, ...) whose work and
allocation guards belong to scenario validation; without it the extremes
are ones every layer must already survive. Standard library only.
"""

import argparse
import pathlib
import random
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXTREME = ["0", "-1", "1", "0.0", "-0.5", "2.5", "1000", "\"\"", "\"x\"", "true", "[]", "{}", "nan", "inf"]
HOSTILE = ["1e-9", "1e9", "4294967295", "18446744073709551615", "1e300", "-1e300", "1e-300", "9223372036854775807"]
NUMBER = re.compile(rb"(?<![\w.])-?\d+(\.\d+)?([eE][-+]?\d+)?(?![\w.])")


def shipped():
    """The scenarios `servesim run` takes (no weight-distribution plans)."""
    return sorted(p for d in ("scenarios", "scenarios/validation") for p in (ROOT / d).glob("*.toml"))


def anchored(source: pathlib.Path) -> bytes:
    """The scenario's bytes with its trace path made absolute, so a mutant
    run from a temporary folder (profiles come from ./profiles) still reads it."""
    text = source.read_bytes()
    trace = re.search(rb'^trace = "([^"]+)"', text, re.M)
    if trace:
        absolute = str((source.parent / trace.group(1).decode()).resolve()).encode()
        text = text[: trace.start(1)] + absolute + text[trace.end(1) :]
    return text


def mutate(text: bytes, rng: random.Random, hostile: bool) -> tuple[bytes, str]:
    lines = text.split(b"\n")
    kind = rng.choice(["delete", "duplicate", "number", "number", "truncate", "bytes"])
    if kind == "delete" and len(lines) > 1:
        i = rng.randrange(len(lines))
        return b"\n".join(lines[:i] + lines[i + 1 :]), f"delete line {i + 1}"
    if kind == "duplicate":
        i = rng.randrange(len(lines))
        return b"\n".join(lines[: i + 1] + lines[i:]), f"duplicate line {i + 1}"
    if kind == "number":
        spots = list(NUMBER.finditer(text))
        if spots:
            m = rng.choice(spots)
            value = rng.choice(EXTREME + (HOSTILE if hostile else [])).encode()
            return text[: m.start()] + value + text[m.end() :], f"number at byte {m.start()} -> {value.decode()}"
    if kind == "truncate":
        cut = rng.randrange(len(text) + 1)
        return text[:cut], f"truncate at byte {cut}"
    at = rng.randrange(len(text) + 1)
    noise = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return text[:at] + noise + text[at:], f"{len(noise)} random bytes at byte {at}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=300, help="mutants to run")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--binary", default=str(ROOT / "target/release/servesim"))
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per mutant")
    ap.add_argument("--hostile", action="store_true", help="also absurd magnitudes (see above)")
    ap.add_argument("--keep", default=str(ROOT / "target/mutants-failed"), help="folder for failing mutants")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    sources = shipped()
    failed = 0
    codes = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        for n in range(args.count):
            source = rng.choice(sources)
            text, edit = mutate(anchored(source), rng, args.hostile)
            mutant = tmp / f"mutant-{n}.toml"
            mutant.write_bytes(text)
            cmd = [args.binary, "run", str(mutant), "--out", str(tmp / "out"), "--quiet", "--set", "run.duration=2s", "--set", "run.warmup=0s"]
            try:
                done = subprocess.run(cmd, capture_output=True, timeout=args.timeout, cwd=ROOT)
                code, stderr = done.returncode, done.stderr.decode(errors="replace")
                problem = None
                if code not in (0, 1, 2):
                    problem = f"exit {code}" + (" (signal)" if code < 0 else "")
                elif "panicked" in stderr:
                    problem = "panic"
            except subprocess.TimeoutExpired:
                code, stderr, problem = "timeout", "", f"timeout after {args.timeout}s"
            codes[code] = codes.get(code, 0) + 1
            if problem:
                failed += 1
                keep = pathlib.Path(args.keep)
                keep.mkdir(parents=True, exist_ok=True)
                kept = keep / f"{source.stem}-seed{args.seed}-{n}.toml"
                kept.write_bytes(text)
                print(f"FAIL {kept}: {problem}; {source.name}: {edit}\n  {stderr.strip()[-400:]}")
    summary = ", ".join(f"exit {c}: {k}" for c, k in sorted(codes.items(), key=str))
    print(f"mutants: {args.count} (seed {args.seed}), failed {failed}; {summary}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
