"""The client keeps no Django imports, and the client and the simulator share no code at all.

The simulator checks the client from the other end of the wire: if the two shared parsing or
normalisation code, a bug in it would be made on both ends and no contract test could see it. So each
package may import, of lumisync, only its own modules.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import lumisync.luminate
import lumisync.simulator

CLIENT = Path(lumisync.luminate.__file__).parent
SIMULATOR = Path(lumisync.simulator.__file__).parent


def imported_modules(package: Path) -> dict[str, set[str]]:
    """Each module of ``package`` (by path) -> the absolute names it imports, relative imports resolved."""
    found: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        # The package a module's relative imports start from: its folder, for __init__.py as for the rest.
        home = path.relative_to(package.parent.parent).parts[:-1]
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = home[: len(home) - node.level + 1] if node.level else ()
                names.add(".".join([*base, *([node.module] if node.module else [])]))
        found[path.relative_to(package.parent).as_posix()] = names
    return found


def outside(package: Path, *, allowed: str, forbidden: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Imports of lumisync modules other than ``allowed``'s, and of any ``forbidden`` package, by module."""

    def refused(name: str) -> bool:
        top = name.split(".")[0]
        own = name == allowed or name.startswith(f"{allowed}.")
        return (top == "lumisync" and not own) or top in forbidden

    imports = imported_modules(package).items()
    return {module: sorted(filter(refused, names)) for module, names in imports if any(map(refused, names))}


def test_the_client_imports_only_itself_of_lumisync_and_no_django():
    assert outside(CLIENT, allowed="lumisync.luminate", forbidden=("django",)) == {}


def test_the_simulator_imports_only_itself_of_lumisync():
    assert outside(SIMULATOR, allowed="lumisync.simulator") == {}


def test_relative_imports_are_resolved_to_absolute_names():
    # Otherwise `from ..luminate import normalize` in the simulator would slip through the checks above.
    assert "lumisync.simulator.api" in imported_modules(SIMULATOR)["simulator/harness.py"]
    assert "lumisync.luminate.files.errors" in imported_modules(CLIENT)["luminate/files/fetch.py"]
    assert "lumisync.luminate.files.errors" in imported_modules(CLIENT)["luminate/files/__init__.py"]


def test_importing_the_client_loads_no_django_and_no_simulator_module():
    probe = (
        "import sys, lumisync.luminate, lumisync.luminate.files\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django' or m.startswith('lumisync.simulator')))"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"
