"""The two locks: the runtime lock (constraints.txt, what the image installs) and the dev lock
(constraints-dev.txt, what `make setup` installs) name the same version of every package they share,
and each pins every dependency pyproject.toml declares at the version it declares."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", re.M)


def _name(requirement: str) -> str:
    return re.split(r"[\[=<>~!; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _lock(name: str) -> dict[str, str]:
    return {k.lower().replace("_", "-"): v for k, v in PIN.findall((ROOT / name).read_text())}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_runtime_lock_is_the_dev_lock_without_the_dev_tools():
    runtime, dev = _lock("constraints.txt"), _lock("constraints-dev.txt")
    assert set(runtime) < set(dev)
    assert {k: (v, dev[k]) for k, v in runtime.items() if dev[k] != v} == {}


def test_every_declared_dependency_is_locked_at_its_pinned_version():
    project = _project()
    for lock_name, requirements in (("constraints.txt", project["dependencies"]),
                                    ("constraints-dev.txt", project["dependencies"] + project["optional-dependencies"]["dev"])):
        lock = _lock(lock_name)
        for requirement in requirements:
            name, version = _name(requirement), requirement.split("==")[1]
            assert lock.get(name) == version, f"{lock_name}: {name} is {lock.get(name)}, pyproject pins {version}"


def test_test_and_benchmark_tools_are_not_runtime_dependencies():
    runtime = {_name(r) for r in _project()["dependencies"]}
    assert not runtime & {"pytest", "hypothesis", "playwright", "pip-audit", "quantstats", "ruff", "mypy", "pre-commit"}
