"""Task.add_requirements: packages recorded in the requirements of the tasks Task.init creates."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from ductwork import Task
from ductwork.core.errors import ValidationError
from ductwork.sdk import requirements


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    requirements.clear()
    yield
    requirements.clear()


def _pip_lines(task: Task) -> list[str]:
    return str(Task.get_task(task.id).data.requirements.get("pip", "")).splitlines()


def test_added_packages_are_recorded_with_their_versions(sdk_home: Path) -> None:
    Task.add_requirements("tensorflow", "2.4.0")
    Task.add_requirements("torch", ">=2.1,<3")
    Task.add_requirements("pandas", "")
    Task.add_requirements("ray[tune]", "~=2.9")
    task = Task.init("p", "with requirements")
    assert _pip_lines(task) == ["tensorflow==2.4.0", "torch>=2.1,<3", "pandas", "ray[tune]~=2.9"]


def test_no_version_means_the_installed_one_or_any(sdk_home: Path) -> None:
    Task.add_requirements("click")
    Task.add_requirements("surely-not-installed-package")
    task = Task.init("p", "installed")
    assert _pip_lines(task) == [f"click=={metadata.version('click')}", "surely-not-installed-package"]


def test_a_requirements_file_adds_each_line(sdk_home: Path, tmp_path: Path) -> None:
    listing = tmp_path / "requirements.txt"
    listing.write_text("# pinned\nnumpy==1.26.4  # math\n\nscipy >= 1.11\npywin32; sys_platform == 'win32'\n")
    Task.add_requirements(str(listing))
    task = Task.init("p", "from file")
    # markers stay for the machine that builds the environment to judge
    assert _pip_lines(task) == ["numpy==1.26.4", "scipy >= 1.11", "pywin32; sys_platform == 'win32'"]


@pytest.mark.parametrize(
    ("name", "version", "message"),
    [
        ("not a package!", None, "neither a package name nor a file"),
        ("", None, "must be a package name"),
        ("numpy", "=>1.0", "not a version or version specifier"),
        ("numpy", "latest", "not a version or version specifier"),
    ],
)
def test_bad_names_and_versions_are_refused_clearly(
    sdk_home: Path, name: str, version: str | None, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Task.add_requirements(name, version)
    assert requirements.recorded() == {}


def test_a_bad_line_in_a_file_names_the_line_and_adds_nothing(sdk_home: Path, tmp_path: Path) -> None:
    listing = tmp_path / "requirements.txt"
    listing.write_text("numpy\n--index-url https://example.org/simple\n")
    with pytest.raises(ValidationError, match=r"requirements.txt:2"):
        Task.add_requirements(str(listing))
    assert requirements.recorded() == {}


def test_after_init_it_warns_and_the_running_task_is_unchanged(
    sdk_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    task = Task.init("p", "already running")
    with caplog.at_level("WARNING", logger="ductwork.sdk"):
        Task.add_requirements("numpy", "1.0")
    assert "call it before Task.init()" in caplog.text
    assert _pip_lines(task) == []
    task.close()
    assert _pip_lines(Task.init("p", "next")) == ["numpy==1.0"]
