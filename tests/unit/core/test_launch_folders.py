"""Where a task runs (`ductwork.core.launch.plan`): relative to its code, on any machine."""

from __future__ import annotations

from typing import Any

import pytest

from ductwork.core import launch
from ductwork.core.errors import ValidationError

OWN = "/work/agent/ductwork-1234"  # the task's own fresh folder on this machine
CHECKOUT = f"{OWN}/repo"
HERE = "/home/user/project"  # local mode: the controller's current folder


def nothing_exists(path: str) -> bool:
    return False


def only(*paths: str) -> Any:
    return lambda path: path in paths


def function_step(working_dir: Any = None) -> dict[str, Any]:
    script = {"module": "ductwork.sdk.runner", "code": "def f():\n    return 1\n", "entry_point": "f.py"}
    return script if working_dir is None else {**script, "working_dir": working_dir}


def standalone(working_dir: str, entry: str = "train.py") -> dict[str, Any]:
    return {"entry_point": entry, "code": "print('hi')\n", "working_dir": working_dir, "args": ["--x", 1]}


def in_repository(working_dir: str, entry: str = "train.py") -> dict[str, Any]:
    return {"repository": "https://example.invalid/r.git", "entry_point": entry, "working_dir": working_dir}


# ---- function steps (module)


@pytest.mark.parametrize("recorded", [None, "", ".", "./"])
def test_a_function_step_runs_in_its_own_folder_on_an_agent(recorded: Any) -> None:
    plan = launch.plan("t1", function_step(recorded), folder=OWN, exists=nothing_exists)
    assert plan == launch.Launch(["-m", "ductwork.sdk.runner"], OWN)


def test_a_relative_folder_is_made_inside_the_own_folder_on_an_agent() -> None:
    plan = launch.plan("t1", function_step("data/in"), folder=OWN, exists=nothing_exists)
    assert (plan.cwd, plan.make_cwd, plan.note) == (f"{OWN}/data/in", True, "")


def test_locally_a_function_step_runs_in_the_controllers_folder_plus_its_relative_part() -> None:
    assert launch.plan("t1", function_step(), folder=OWN, exists=nothing_exists, here=HERE).cwd == HERE
    local = launch.plan("t1", function_step("data"), folder=OWN, exists=nothing_exists, here=HERE)
    # the user's folder is theirs: it is never made for them
    assert (local.cwd, local.make_cwd) == (f"{HERE}/data", False)


def test_an_absolute_folder_is_used_where_it_exists() -> None:
    shared = "/mnt/shared/data"
    for here in (None, HERE):
        plan = launch.plan("t1", function_step(shared), folder=OWN, exists=only(shared), here=here)
        assert (plan.cwd, plan.note) == (shared, "")


def test_an_old_absolute_folder_missing_on_this_machine_becomes_the_own_folder_with_a_note() -> None:
    old = "/home/someone/elsewhere"
    plan = launch.plan("t1", function_step(old), folder=OWN, exists=nothing_exists)
    assert plan.cwd == OWN and not plan.make_cwd
    assert old in plan.note and OWN in plan.note and "t1" in plan.note
    local = launch.plan("t1", function_step(old), folder=OWN, exists=nothing_exists, here=HERE)
    assert local.cwd == HERE and old in local.note


# ---- standalone scripts (code)


def test_a_standalone_script_is_written_to_the_own_folder_and_runs_there() -> None:
    plan = launch.plan("t2", standalone("."), folder=OWN, exists=nothing_exists)
    assert plan.argv == [f"{OWN}/train.py", "--x", "1"]
    assert plan.cwd == OWN
    assert plan.files == {f"{OWN}/train.py": "print('hi')\n"}


def test_a_standalone_script_runs_in_its_relative_folder_written_beside_it() -> None:
    plan = launch.plan("t2", standalone("out"), folder=OWN, exists=nothing_exists)
    assert (plan.cwd, plan.make_cwd, list(plan.files)) == (f"{OWN}/out", True, [f"{OWN}/train.py"])


def test_locally_a_standalone_script_runs_in_the_controllers_folder_but_is_written_to_its_own() -> None:
    plan = launch.plan("t2", standalone("."), folder=OWN, exists=nothing_exists, here=HERE)
    assert (plan.cwd, list(plan.files), plan.argv[0]) == (HERE, [f"{OWN}/train.py"], f"{OWN}/train.py")


def test_an_old_absolute_script_folder_is_never_written_into() -> None:
    """Older versions recorded the folder the script was read from: it may exist (the same
    machine), and the script still goes to the task's own folder, not over the user's file."""
    users = "/home/user/scripts"
    plan = launch.plan("t2", standalone(users), folder=OWN, exists=only(users))
    assert plan.cwd == users and list(plan.files) == [f"{OWN}/train.py"]
    gone = launch.plan("t2", standalone(users), folder=OWN, exists=nothing_exists)
    assert gone.cwd == OWN and users in gone.note


@pytest.mark.parametrize("entry", ["../../etc/x.py", "/etc/cron.d/x.py", "a\\..\\..\\x.py"])
def test_a_standalone_script_is_written_by_its_name_only(entry: str) -> None:
    plan = launch.plan("t2", standalone(".", entry), folder=OWN, exists=nothing_exists)
    (path,) = plan.files
    assert path.startswith(f"{OWN}/") and path.count("/") == OWN.count("/") + 1


# ---- repository tasks


def test_a_repository_task_runs_in_its_folder_relative_to_the_checkout() -> None:
    plan = launch.plan("t3", in_repository("app"), folder=OWN, exists=nothing_exists, checkout=CHECKOUT)
    assert (plan.argv, plan.cwd, plan.make_cwd, plan.files) == (["train.py"], f"{CHECKOUT}/app", False, {})
    root = launch.plan("t3", in_repository("."), folder=OWN, exists=nothing_exists, checkout=CHECKOUT)
    assert root.cwd == CHECKOUT


def test_an_old_absolute_folder_of_a_repository_task_becomes_its_place_in_the_checkout() -> None:
    plan = launch.plan(
        "t3",
        in_repository("/home/me/project/src/jobs"),
        folder=OWN,
        exists=only(f"{CHECKOUT}/src/jobs/train.py", f"{CHECKOUT}/jobs/train.py"),
        checkout=CHECKOUT,
    )
    assert plan.cwd == f"{CHECKOUT}/src/jobs"  # the longest tail that holds the entry point
    assert "/home/me/project/src/jobs" in plan.note and "'src/jobs'" in plan.note
    at_root = launch.plan(
        "t3",
        in_repository("/home/me/project"),
        folder=OWN,
        exists=only(f"{CHECKOUT}/train.py"),
        checkout=CHECKOUT,
    )
    assert at_root.cwd == CHECKOUT


def test_a_windows_machines_folder_is_absolute_too() -> None:
    old = "C:\\Users\\me\\project\\src"
    plan = launch.plan("t1", function_step(old), folder=OWN, exists=nothing_exists)
    assert (plan.cwd, plan.make_cwd) == (OWN, False) and old in plan.note
    in_repo = launch.plan(
        "t3", in_repository(old), folder=OWN, exists=only(f"{CHECKOUT}/src/train.py"), checkout=CHECKOUT
    )
    assert in_repo.cwd == f"{CHECKOUT}/src"


def test_no_tail_of_an_old_folder_leads_out_of_the_checkout() -> None:
    plan = launch.plan(
        "t3",
        in_repository("C:\\a\\..\\..\\..\\elsewhere"),
        folder=OWN,
        exists=lambda path: True,
        checkout=CHECKOUT,
    )
    assert plan.cwd == f"{CHECKOUT}/elsewhere"


def test_an_absolute_folder_no_part_of_the_checkout_matches_is_refused() -> None:
    with pytest.raises(
        ValidationError, match=r"task t3: script.working_dir '/srv/x' is not inside its repository"
    ):
        launch.plan("t3", in_repository("/srv/x"), folder=OWN, exists=nothing_exists, checkout=CHECKOUT)


def test_an_absolute_folder_inside_the_checkout_is_used() -> None:
    plan = launch.plan(
        "t3", in_repository(f"{CHECKOUT}/app"), folder=OWN, exists=nothing_exists, checkout=CHECKOUT
    )
    assert (plan.cwd, plan.note) == (f"{CHECKOUT}/app", "")


# ---- hostile values


@pytest.mark.parametrize("value", ["..", "../..", "../../etc", "a/../../b", "..\\..", "./../x"])
@pytest.mark.parametrize("script", [function_step, standalone, in_repository])
def test_a_relative_folder_leading_out_is_refused_naming_the_task_and_field(value: str, script: Any) -> None:
    with pytest.raises(ValidationError, match=r"task t9: script.working_dir .* leads out of the folder"):
        launch.plan("t9", script(value), folder=OWN, exists=lambda path: True, checkout=CHECKOUT)


@pytest.mark.parametrize("value", ["a\0b", "/tmp/\0", "\0"])
def test_a_nul_byte_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match=r"task t9: script.working_dir .* holds a NUL byte"):
        launch.plan("t9", function_step(value), folder=OWN, exists=lambda path: True)
    with pytest.raises(ValidationError, match=r"task t9: script.entry_point .* holds a NUL byte"):
        launch.plan("t9", standalone(".", "x\0.py"), folder=OWN, exists=lambda path: True)


@pytest.mark.parametrize("value", [3, ["a"], {"a": 1}])
def test_a_folder_that_is_not_text_is_refused(value: Any) -> None:
    with pytest.raises(ValidationError, match=r"task t9: script\.working_dir must be a string"):
        launch.plan("t9", function_step(value), folder=OWN, exists=lambda path: True)


def test_inner_dots_that_stay_inside_are_normalised() -> None:
    assert launch.working_folder("step 'a'", "a/./b/../c\\d") == "a/c/d"
    assert launch.working_folder("step 'a'", "/x/../y") == "/y"
    with pytest.raises(ValidationError, match=r"^step 'a': working_dir '\.\./x' leads out"):
        launch.working_folder("step 'a'", "../x", "working_dir")


def test_a_repository_task_without_its_checkout_or_entry_point_is_refused() -> None:
    with pytest.raises(ValidationError, match="not checked out"):
        launch.plan("t3", in_repository("."), folder=OWN, exists=nothing_exists)
    with pytest.raises(ValidationError, match="entry_point is empty"):
        launch.plan("t3", in_repository(".", ""), folder=OWN, exists=nothing_exists, checkout=CHECKOUT)
