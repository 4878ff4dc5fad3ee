from __future__ import annotations

import functools
import importlib.metadata
import math
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest
from codegen_fixtures import helpers, steps

from ductwork import codegen
from ductwork.codegen import Captured, capture
from ductwork.core.errors import ValidationError

FIXTURES_PARENT = Path(__file__).parent


def run_source(captured: Captured, *args: Any) -> Any:
    """Execute the generated module in a fresh namespace and call the captured function."""
    return getattr(load(captured), captured.name)(*args)


def load(captured: Captured) -> types.ModuleType:
    return codegen.load(captured, "captured_step")


def run_standalone(tmp_path: Path, captured: Captured, call: str) -> str:
    """Run the generated module in a new interpreter where the user's modules cannot be imported."""
    (tmp_path / "step.py").write_text(captured.source)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", f"import step; print(repr(step.{call}))"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_simple_function_with_a_constant_default() -> None:
    captured = capture(steps.simple)
    assert captured.name == "simple"
    assert captured.source.startswith("from __future__ import annotations\n")
    assert "LIMIT = 3\n" in captured.source
    assert run_source(captured, 1) == 4
    assert captured.requirements == []
    assert captured.imports == []


def test_stacked_decorators_are_kept_so_the_step_runs_them() -> None:
    """The step's function runs as the user decorated it (ClearML applies a step's decorators in
    the step's process); the step is named after the user's function, not a wrapper."""
    captured = capture(steps.decorated)
    assert captured.name == "decorated"
    assert '@tagged("outer")\n@traced\n@plain_decorator\ndef decorated(x: float) -> float:' in captured.source
    assert "def tagged(" in captured.source and "def traced(" in captured.source
    assert "def scale(" in captured.source and "def _factor(" in captured.source
    assert run_source(captured, 0.7) == 10
    assert run_source(captured, 0.2) == 3.2


def test_module_alias_and_requirement_with_version() -> None:
    captured = capture(steps.with_numpy)
    assert captured.imports == ["import numpy as np"]
    assert captured.requirements == [f"numpy=={importlib.metadata.version('numpy')}"]
    assert run_source(captured, [1.0, 3.0]) == 2.0


def test_imports_inside_the_body_count_as_requirements() -> None:
    captured = capture(steps.with_body_import)
    assert captured.imports == []
    assert captured.requirements == [f"PyYAML=={importlib.metadata.version('PyYAML')}"]
    assert run_source(captured, "a: 1") == {"a": 1}


def test_user_code_is_inlined_and_runs_without_the_user_modules(tmp_path: Path) -> None:
    captured = capture(steps.uses_user_code)
    source = captured.source
    assert "import codegen_fixtures" not in source and "from codegen_fixtures" not in source
    definitions = ("class Point:", "class Point3(Point):", "def scale(", "def count_words(", "def cached_")
    for definition in definitions:
        assert definition in source
    assert "@dataclass\nclass Point:" in source  # decorators of helpers and classes are kept
    assert "@functools.cache\ndef cached_square" in source
    assert "rescale = scale" in source
    assert "square = lambda n: n * n" in source
    assert "WORD = re.compile('\\\\w+', re.IGNORECASE)" in source
    assert "log = logging.getLogger('codegen_fixtures.helpers')" in source
    assert "THRESHOLD = 0.5" in source
    settings = "SETTINGS = {'mode': 'fast', 'levels': (1, 2, 3), 'ratio': float(\"inf\"), 'tags': {'a', 'b'}}"
    assert settings in source
    # the module's own import lines are copied only for names the code uses
    assert "import os.path" in captured.imports and "from collections import OrderedDict" in captured.imports
    assert "from collections.abc import Callable" not in source
    assert "np" not in captured.imports
    # Point must be defined before Point3, which subclasses it
    assert source.index("class Point:") < source.index("class Point3(Point):")
    expected = steps.uses_user_code(2.0)
    assert run_standalone(tmp_path, captured, "uses_user_code(2.0)") == repr(expected)


def test_a_user_module_used_as_an_object_is_imported_and_reported() -> None:
    captured = capture(steps.uses_user_module_object)
    assert captured.imports == ["from codegen_fixtures import helpers"]
    assert captured.unresolved == ["codegen_fixtures"]
    assert captured.requirements == []


def test_nested_function_with_closure_values_and_multiline_strings() -> None:
    step = steps.make_step(5, "L")
    captured = capture(step)
    assert captured.name == "nested_step"
    assert captured.source.count("def nested_step(n: int) -> str:\n") == 1
    assert "\ndef double(n: int) -> int:\n    return n * 2\n" in captured.source
    assert "offset = 5" in captured.source and "label = 'L'" in captured.source
    assert "table = {'k': [1, 2]}" in captured.source
    assert run_source(captured, 3) == step(3)  # the string's indentation is kept exactly


def test_closure_value_that_is_not_a_constant_is_an_error() -> None:
    problem = r"function 'make_bad_step.<locals>.bad_step'.*closure variable 'handle'"
    with pytest.raises(ValidationError, match=problem):
        capture(steps.make_bad_step())


def test_unserialisable_global_is_an_error_naming_function_and_global() -> None:
    with pytest.raises(ValidationError) as info:
        capture(steps.uses_open_file)
    message = str(info.value)
    assert "'uses_open_file'" in message and "global 'OPEN_FILE'" in message
    assert "_io.TextIOWrapper" in message


def test_recursion_and_mutual_recursion() -> None:
    assert run_source(capture(steps.fact), 5) == 120
    captured = capture(steps.is_even)
    assert captured.source.index("def is_odd") < captured.source.index("def is_even")
    assert run_source(captured, 7) is False


def test_method_used_as_a_function_is_dedented() -> None:
    captured = capture(steps.Holder.method_step)
    assert "\ndef method_step(x: int) -> int:" in captured.source
    assert run_source(captured, 1) == 4


def test_same_function_gives_the_same_source_and_is_cached() -> None:
    first = capture(steps.uses_user_code)
    assert capture(steps.uses_user_code) is first
    assert capture(steps.uses_user_code, skip_global_imports=True) is not first


def test_source_is_stable_across_processes() -> None:
    code = textwrap.dedent(
        """
        import sys
        from codegen_fixtures import steps
        from ductwork.codegen import capture
        print(capture(steps.uses_user_code).digest)
        """
    )
    path = os.pathsep.join([str(FIXTURES_PARENT), *sys.path])
    digests = set()
    for seed in ("1", "2"):  # different string hashing, so different set and dict orders
        env = dict(os.environ, PYTHONPATH=path, PYTHONHASHSEED=seed)
        run = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        digests.add(run.stdout)
    assert digests == {capture(steps.uses_user_code).digest + "\n"}


def test_a_changed_global_is_seen_on_the_next_capture(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "LIMIT = 3" in capture(steps.simple).source
    monkeypatch.setattr(steps, "LIMIT", 4)
    assert "LIMIT = 4" in capture(steps.simple).source


def test_a_mutated_list_constant_is_seen_on_the_next_capture() -> None:
    assert "WEIGHTS = [1, 2]" in capture(steps.weighted).source
    steps.WEIGHTS.append(3)
    try:
        captured = capture(steps.weighted)
        assert "WEIGHTS = [1, 2, 3]" in captured.source
        assert run_source(captured, 2) == 12
    finally:
        steps.WEIGHTS.pop()


def test_skip_global_imports_derives_import_lines_from_the_objects() -> None:
    captured = capture(steps.uses_user_code, skip_global_imports=True)
    assert "import os" in captured.imports  # the module object is os.path's parent, os
    assert "from collections import OrderedDict" in captured.imports
    assert run_source(captured, 2.0) == steps.uses_user_code(2.0)


def test_helper_functions_are_included() -> None:
    without = capture(steps.calls_helper_by_name)
    assert "hidden_helper" not in without.source.replace('globals()["hidden_helper"]', "")
    captured = capture(steps.calls_helper_by_name, helper_functions=[steps.hidden_helper])
    assert "def hidden_helper(x: int) -> int:" in captured.source
    assert run_source(captured, 2) == 200


def test_two_meanings_of_one_name_is_an_error() -> None:
    with pytest.raises(ValidationError, match="the name 'scale' means two different things"):
        capture(steps.uses_two_scales)


def test_ductwork_is_imported_never_inlined_and_never_a_requirement() -> None:
    captured = capture(steps.uses_ductwork)
    assert captured.imports == ["from ductwork.core.errors import ValidationError"]
    assert captured.requirements == []
    assert captured.unresolved == []


def test_decorated_helper_keeps_its_decorator() -> None:
    assert hasattr(load(capture(steps.uses_user_code)).cached_square, "cache_info")


def test_lambdas() -> None:
    increment = lambda x: x + steps.LIMIT  # noqa: E731
    captured = capture(increment)
    assert captured.name == "increment"
    assert captured.source.endswith("increment = lambda x: x + steps.LIMIT  # noqa: E731\n") is False
    assert "increment = lambda x: x + steps.LIMIT\n" in captured.source
    assert "from codegen_fixtures import steps" in captured.imports
    assert run_source(captured, 1) == 4

    pair = (lambda a: a * 2, lambda a: a * 3)
    doubled, tripled = capture(pair[0]), capture(pair[1])
    assert doubled.name == tripled.name == "lambda_function"
    assert run_source(doubled, 5) == 10 and run_source(tripled, 5) == 15


def test_lambda_without_source_is_an_error() -> None:
    namespace: dict[str, Any] = {}
    exec("f = lambda x: x", namespace)
    with pytest.raises(ValidationError, match="source is not available"):
        capture(namespace["f"])


def test_function_without_source_is_an_error() -> None:
    namespace: dict[str, Any] = {}
    exec("def made_up(x):\n    return x\n", namespace)
    with pytest.raises(ValidationError, match=r"'made_up'.*source is not available.*define it in a file"):
        capture(namespace["made_up"])


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        (functools.partial(steps.simple, 1), "functools.partial, not a Python function"),
        (len, "not a Python function"),
        (steps.Holder().method_step, "bound method"),
    ],
)
def test_things_that_are_not_functions(target: Any, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        capture(target)


def test_ambiguous_closure_wrapper_asks_for_functools_wraps() -> None:
    def logged(on_error: Any) -> Any:
        def decorate(func: Any) -> Any:
            def wrapper(*args: Any) -> Any:
                try:
                    return func(*args)
                except Exception:
                    return on_error()

            return wrapper

        return decorate

    wrapped = logged(steps.fact)(steps.simple)
    with pytest.raises(ValidationError, match=r"use functools\.wraps"):
        capture(wrapped)


def test_main_script_functions_are_captured_from_source(tmp_path: Path) -> None:
    script = tmp_path / "pipeline_script.py"
    script.write_text(
        textwrap.dedent(
            """
            import functools
            import json
            import sys

            from ductwork.codegen import capture

            FACTOR = 3


            class Box:
                def __init__(self, v):
                    self.v = v


            def helper(v):
                return Box(v * FACTOR)


            def component(**options):
                def decorate(func):
                    @functools.wraps(func)
                    def wrapper(*args, **kwargs):
                        return func(*args, **kwargs)

                    return wrapper

                return decorate


            @component(
                return_values=["v"],
                cache=True,
            )
            def my_step(v):
                return json.dumps({"v": helper(v).v})


            if __name__ == "__main__":
                sys.stdout.write(capture(my_step).source)
            """
        )
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    produced = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "__main__" not in produced
    assert "FACTOR = 3" in produced and "class Box:" in produced and "import json" in produced
    assert "if __name__" not in produced  # the script's own entry point is not copied
    assert "@component(" in produced and "def component(" in produced  # the decorator runs too
    captured = Captured(produced, "my_step", [], [], "")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert run_standalone(run_dir, captured, "my_step(2)") == repr('{"v": 6}')


def test_user_module_globals_resolve_against_their_own_module() -> None:
    # scale() reads THRESHOLD from helpers, not from the steps module that calls it
    captured = capture(steps.decorated)
    assert "THRESHOLD = 0.5" in captured.source
    assert helpers.THRESHOLD == 0.5


def test_classes_defined_inside_a_function() -> None:
    captured = capture(steps.make_model_step(7))
    assert captured.source.index("class Layer:") < captured.source.index("class Dense(Layer):")
    assert "units = 7" in captured.source
    assert run_source(captured) == (7, "dense", 3)


def test_recursive_function_under_a_decorator_without_wraps() -> None:
    captured = capture(steps.countdown)
    assert "@plain_decorator\ndef countdown(n: int) -> int:" in captured.source
    assert run_source(captured, 3) == 0


def test_function_defined_in_an_if_block_is_dedented() -> None:
    captured = capture(steps.conditional_step)
    assert "\ndef conditional_step(x: int) -> int:\n    return x - LIMIT\n" in captured.source
    assert run_source(captured, 5) == 2


def test_odd_constants_round_trip() -> None:
    quotes, raw, odd = run_source(capture(steps.strings_step))
    assert quotes == steps.QUOTES and raw == steps.RAW
    assert math.isnan(odd[0]) and odd[1:] == steps.ODD[1:]
    assert math.copysign(1.0, odd[3]) == -1.0


def test_load_runs_the_source_as_a_module_and_keeps_it_for_tracebacks() -> None:
    import traceback

    module = codegen.load(capture(steps.uses_user_code), "loaded_step_for_test")
    assert "loaded_step_for_test" not in sys.modules  # so cloudpickle stores its objects by value
    assert module.Point.__module__ == "loaded_step_for_test"
    assert module.uses_user_code(2.0) == steps.uses_user_code(2.0)
    failing = codegen.load("def boom():\n    raise ValueError('x')\n", "loaded_failing_step")
    with pytest.raises(ValueError) as info:
        failing.boom()
    assert "raise ValueError('x')" in "".join(traceback.format_exception(info.value))
    with pytest.raises(SyntaxError):
        codegen.load("def broken(:\n", "loaded_broken_step")
    assert "loaded_broken_step" not in sys.modules


def test_objects_of_loaded_code_unpickle_where_the_code_is_unknown(tmp_path: Path) -> None:
    cloudpickle = pytest.importorskip("cloudpickle")
    module = codegen.load(capture(steps.uses_user_code), "loaded_for_pickle")
    (tmp_path / "point.pkl").write_bytes(cloudpickle.dumps(module.Point3(1.0, 2.0, 3.0)))
    code = "import pickle; p = pickle.load(open('point.pkl', 'rb')); print(p.norm(), p.z)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [repr(math.hypot(1.0, 2.0)), "3.0"]


def test_a_step_wrapped_by_a_call_is_refused() -> None:
    """`walk = plain_decorator(_inner_walk)`: no definition repeats the wrapping, and running
    `_inner_walk` bare would give another answer than the step's function does."""
    with pytest.raises(ValidationError, match="by a call"):
        capture(steps.walk)


def test_function_calling_itself_under_another_name() -> None:
    captured = capture(steps._inner_walk)
    assert captured.name == "_inner_walk"
    assert "\nwalk = _inner_walk\n" in captured.source
    assert run_source(captured, 4) == 0


def test_factory_made_step_closing_over_a_function_is_not_unwrapped() -> None:
    captured = capture(steps.make_transform_step(steps.scale))
    assert captured.name == "transform_step"
    assert "\ntransform = scale\n" in captured.source
    assert run_source(captured, 0.7) == 8


def test_a_decorated_global_is_captured_with_its_decorators() -> None:
    captured = capture(steps.calls_decorated)
    assert '@tagged("outer")\n@traced\n@plain_decorator\ndef decorated(x: float) -> float:' in captured.source
    for decorator in ("def tagged(", "def traced(", "def plain_decorator("):
        assert decorator in captured.source
    module = load(captured)
    assert module.decorated.label == "outer"  # the decorators really ran again
    assert module.calls_decorated(0.7) == 20


def test_strings_keep_their_text_and_code_is_dedented() -> None:
    step = steps.make_text_step()
    captured = capture(step)
    assert '\n    joined = (\n        "implicitly concatenated' in captured.source
    assert '\n        "keep them apart' in captured.source  # dedented: not a string continuation line
    assert run_source(captured) == step()


def test_enum_members_are_written_by_name_after_their_class() -> None:
    captured = capture(steps.uses_enums)
    source = captured.source
    assert "class Mode(enum.Enum):" in source and "DEFAULT_MODE = Mode.FAST\n" in source
    assert source.index("class Mode(enum.Enum):") < source.index("DEFAULT_MODE = Mode.FAST")
    assert source.count("DEFAULT_MODE = Mode.FAST") == 1
    assert "from http import HTTPStatus" in captured.imports and "HTTP_OK = HTTPStatus.OK" in source
    assert captured.unresolved == ["codegen_fixtures"]  # the import inside the body
    assert run_source(captured) == ("fast", "OK", True)


def test_constants_with_nan_are_rechecked_by_text_and_stay_stable() -> None:
    first = capture(steps.strings_step)
    assert capture(steps.strings_step).source == first.source


def test_a_dict_constant_changed_in_place_is_seen() -> None:
    captured = capture(steps.uses_user_code)
    steps.SETTINGS["mode"] = "slow"
    try:
        assert "'mode': 'slow'" in capture(steps.uses_user_code).source
    finally:
        steps.SETTINGS["mode"] = "fast"
    assert capture(steps.uses_user_code).source == captured.source


def test_importing_codegen_for_load_stays_light() -> None:
    heavy = ("ductwork.codegen.builder", "ductwork.codegen.origins", "importlib.metadata")
    code = f"import sys, ductwork.codegen; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_dataclass_namedtuple_and_partial_constants_are_rebuilt() -> None:
    captured = capture(steps.uses_constructed_constants)
    source = captured.source
    assert "DEFAULTS = Settings(lr=0.1, layers=(8, 8))\n" in source
    assert source.index("class Settings:") < source.index("DEFAULTS = Settings(")
    assert "Pair = collections.namedtuple('Pair', ['left', 'right'])\n" in source
    assert "ORIGIN = Pair(left=0, right=0)\n" in source
    assert source.index("Pair = collections") < source.index("ORIGIN = Pair(")
    assert "SQUARE = functools.partial(power, exponent=2)\n" in source
    assert "def power(base: float, exponent: int) -> float:" in source
    assert run_source(captured) == (0.1, (8, 8), 0, 9.0)


def test_standard_library_values_are_written_out() -> None:
    captured = capture(steps.uses_a_path)
    assert "from pathlib import PurePosixPath" in captured.imports
    assert "DATA_DIR = PurePosixPath('/data')" in captured.source
    assert run_source(captured) == "/data/x"
