"""The shape of the package, read from its source with ``ast``.

Data and imports flow one way (see docs/architecture.md):

    core (capture engine + estimator) <- analysis / reports / record
        <- plot <- animate <- nets, CLI, package root

A part may import from its own floor or below, never above; nothing imports
a leading-underscore name (module or attribute) of another part; only
``skviz/capture.py`` registers hooks; nothing outside the core calls a
private method of the net; and no source file grows past ~700 lines.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "skviz"

# Top-level module or subpackage of skviz -> (part, floor).
PARTS = {
    "layers": ("core", 0),
    "progress": ("core", 0),
    "_data": ("core", 0),
    "_sinks": ("core", 0),
    "session": ("core", 0),
    "_writer": ("core", 0),
    "atomic": ("core", 0),
    "samples": ("core", 0),
    "capture": ("core", 0),
    "_dask": ("core", 1),
    "stream": ("core", 1),
    "inspectable": ("core", 1),
    "_inputs": ("core", 1),
    "analysis": ("analysis", 2),
    "reports": ("reports", 2),
    "kinds": ("reports", 2),
    "represent": ("represent", 2),
    "record": ("record", 2),
    "plot": ("plot", 3),
    "animate": ("animate", 4),
    "nets": ("nets", 5),
    "_represent_methods": ("nets", 5),
    "_demo": ("cli", 5),
    "__main__": ("cli", 5),
    "__init__": ("package", 6),
}

MAX_LINES = 700


def _sources():
    return sorted(PACKAGE.rglob("*.py"))


def _top(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _module_name(path: Path) -> list[str]:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return parts


def _imports(path: Path):
    """``(target module parts, imported names, line)`` for every skviz import."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = _module_name(path)
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_package else here[:-1]
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "skviz":
                target = node.module.split(".")[1:]
            else:
                continue
            yield target, [a.name for a in node.names], node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "skviz":
                    yield parts[1:], [], node.lineno


def _resolve(target: list[str], names: list[str]):
    """Split ``from target import names`` into (module parts, attribute names).

    A name that is a submodule of ``target`` counts as part of the path.
    """
    modules, attributes = [], []
    for name in names or [None]:
        path = list(target)
        if name is not None:
            candidate = PACKAGE.joinpath(*path, name)
            if candidate.with_suffix(".py").exists() or candidate.is_dir():
                path.append(name)
            else:
                attributes.append(name)
        modules.append(path)
    return modules, attributes


def test_every_module_belongs_to_a_known_part():
    unknown = sorted({_top(p) for p in _sources()} - set(PARTS))
    assert unknown == [], f"add these to PARTS and to docs/architecture.md: {unknown}"


def test_imports_flow_one_way():
    problems = []
    for path in _sources():
        part, floor = PARTS[_top(path)]
        for target, names, line in _imports(path):
            if not target:
                continue  # the package root itself (``from skviz import ...``)
            for module in _resolve(target, names)[0]:
                other, other_floor = PARTS[module[0].removesuffix(".py")]
                if other != part and other_floor > floor:
                    problems.append(
                        f"{path.relative_to(PACKAGE.parent)}:{line} ({part}, floor "
                        f"{floor}) imports {'.'.join(module)} ({other}, floor "
                        f"{other_floor})"
                    )
    assert problems == []


def test_core_estimator_imports_no_display():
    inspectable = PACKAGE / "inspectable.py"
    targets = {t[0] for t, _, _ in _imports(inspectable) if t}
    assert not targets & {"plot", "animate", "nets", "record"}


def test_no_private_names_across_parts():
    problems = []
    for path in _sources():
        part, _ = PARTS[_top(path)]
        for target, names, line in _imports(path):
            if not target:
                continue
            modules, attributes = _resolve(target, names)
            for module in modules:
                other = PARTS[module[0]][0]
                if other == part:
                    continue
                private = [m for m in module if m.startswith("_")]
                private += [a for a in attributes if a.startswith("_")]
                if private:
                    problems.append(
                        f"{path.relative_to(PACKAGE.parent)}:{line} imports "
                        f"{private} from {'.'.join(module)} (part {other})"
                    )
    assert problems == []


def test_only_the_engine_registers_hooks():
    hooks = {
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_backward_hook",
    }
    found = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in hooks:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert found and all(f.startswith("capture.py:") for f in found), found


def test_nothing_outside_the_core_calls_private_methods_of_the_net():
    problems = []
    for path in _sources():
        if PARTS[_top(path)][0] == "core":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name)
                and node.value.id in {"net", "estimator"}
            ):
                problems.append(
                    f"{path.relative_to(PACKAGE)}:{node.lineno} net.{node.attr}"
                )
    assert problems == []


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_source_files_stay_small(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{n} lines: split it by concern"
