"""Checks the Dockerfile with Docker's own parser (PyPI `dockerfile`, which wraps BuildKit's):

    python3 scripts/check-dockerfile.py PREFLIGHT_BINARY

- every COPY source from the build context exists and is not excluded by .dockerignore;
- the build stage's Rust image is at the workspace's rust-version (Cargo.toml);
- EXPOSE lists exactly the node's default ports (read from `BINARY devnet --help`);
- the runtime stage runs as a named non-root user, with ENTRYPOINT the binary, CMD `devnet`,
  a HEALTHCHECK, a volume for the datadir and every server bound to 0.0.0.0.
Prints one line per check and exits 1 on the first failure.
"""

import fnmatch
import os
import re
import subprocess
import sys

import dockerfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
binary = sys.argv[1]
commands = dockerfile.parse_file(os.path.join(ROOT, "Dockerfile"))
ignored = [
    l.strip()
    for l in open(os.path.join(ROOT, ".dockerignore"))
    if l.strip() and not l.startswith("#")
]


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        sys.exit(1)


stages = []
for c in commands:
    if c.cmd == "FROM":
        stages.append([])
    stages[-1].append(c)
check(len(stages) == 2, "two stages: build and runtime")
build, runtime = stages

for c in commands:
    if c.cmd == "COPY" and not any(f.startswith("--from") for f in c.flags):
        for src in c.value[:-1]:
            path = os.path.normpath(os.path.join(ROOT, src))
            check(os.path.exists(path), f"COPY source {src} exists")
            check(
                not any(fnmatch.fnmatch(src, p) or src.startswith(p + "/") for p in ignored),
                f"COPY source {src} is not in .dockerignore",
            )

cargo = open(os.path.join(ROOT, "Cargo.toml")).read()
rust_version = re.search(r'^rust-version = "([^"]+)"', cargo, re.M).group(1)
image = build[0].value[0]
check(image.startswith(f"rust:{rust_version}"), f"build image {image} is at rust-version {rust_version}")
check(
    sum("--locked" in " ".join(c.value) for c in build if c.cmd == "RUN") == 2,
    "both cargo builds are --locked (dependencies, then the sources)",
)

help_text = subprocess.run([binary, "devnet", "--help"], capture_output=True, text=True, check=True).stdout
defaults = set()
for flag in ["--http.port", "--authrpc.port", "--metrics.port", "--flashblocks.port", "--preconf.api-port"]:
    block = help_text[help_text.index(flag):]
    defaults.add(re.search(r"\[default: (\d+)\]", block).group(1))
exposed = {p.split("/")[0] for c in runtime if c.cmd == "EXPOSE" for p in c.value}
check(exposed == defaults, f"EXPOSE {sorted(exposed)} is the default ports {sorted(defaults)}")

users = [c.value[0] for c in runtime if c.cmd == "USER"]
check(bool(users) and users[-1] not in ("root", "0") and not users[-1].startswith("0:"), f"runtime user {users[-1:]} is not root")
entry = [c for c in runtime if c.cmd == "ENTRYPOINT"]
check(bool(entry) and entry[-1].value[0] == "preconf-node", "ENTRYPOINT is the binary")
cmd = [c for c in runtime if c.cmd == "CMD"]
check(bool(cmd) and list(cmd[-1].value) == ["devnet"], "default command is devnet")
check(any(c.cmd == "HEALTHCHECK" for c in runtime), "HEALTHCHECK present")
check(any(c.cmd == "VOLUME" for c in runtime), "datadir volume present")
env = {}
for c in runtime:
    if c.cmd == "ENV":
        env.update(zip(c.value[::2], c.value[1::2]))
for var in ["PRECONF_HTTP_ADDR", "PRECONF_AUTHRPC_ADDR", "PRECONF_METRICS_ADDR", "PRECONF_FLASHBLOCKS_ADDR", "PRECONF_PRECONF_API_ADDR"]:
    check(env.get(var) == "0.0.0.0", f"{var}=0.0.0.0")
for var in env:
    check(f"[env: {var}" in help_text, f"{var} is a variable the binary reads")
