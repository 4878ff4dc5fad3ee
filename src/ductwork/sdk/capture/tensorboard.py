"""TensorBoard capture: `SummaryWriter.add_scalar(s)` of torch.utils.tensorboard or tensorboardX
also become scalars of the current task (the event files are still written as usual).

A tag `loss/train` becomes title `loss`, series `train`; a tag without `/` is both.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from ductwork.sdk import current
from ductwork.sdk.capture import hooks

FRAMEWORK = "tensorboard"
MODULES = ("torch.utils.tensorboard", "tensorboardX")


def enable() -> None:
    for name in MODULES:
        hooks.on_import(name, patch)


def split_tag(tag: str) -> tuple[str, str]:
    title, sep, series = str(tag).rpartition("/")
    return (title, series) if sep and title else (str(tag), str(tag))


def patch(module: ModuleType) -> None:
    """Wrap the module's `SummaryWriter` methods (once per class)."""
    writer = getattr(module, "SummaryWriter", None)
    if writer is None or getattr(writer, "_ductwork_patched", False):
        return
    add_scalar, add_scalars = getattr(writer, "add_scalar", None), getattr(writer, "add_scalars", None)
    if add_scalar is not None:

        def patched_add_scalar(
            self: Any, tag: str, scalar_value: Any, global_step: Any = None, *a: Any, **k: Any
        ) -> Any:
            result = add_scalar(self, tag, scalar_value, global_step, *a, **k)
            title, series = split_tag(tag)
            _report(self, title, series, scalar_value, global_step)
            return result

        writer.add_scalar = patched_add_scalar
    if add_scalars is not None:

        def patched_add_scalars(
            self: Any,
            main_tag: str,
            tag_scalar_dict: dict[str, Any],
            global_step: Any = None,
            *a: Any,
            **k: Any,
        ) -> Any:
            result = add_scalars(self, main_tag, tag_scalar_dict, global_step, *a, **k)
            for series, value in dict(tag_scalar_dict).items():
                _report(self, str(main_tag), str(series), value, global_step)
            return result

        writer.add_scalars = patched_add_scalars
    writer._ductwork_patched = True


def _report(writer: Any, title: str, series: str, value: Any, step: Any) -> None:
    task = current.get()
    if task is None or not task._captures(FRAMEWORK):
        return
    try:
        if hasattr(value, "item"):
            value = value.item()
        if step is None:
            # TensorBoard counts steps per writer when none is given; so do we.
            step = getattr(writer, "_ductwork_step", 0)
            writer._ductwork_step = step + 1
        task.get_logger().report_scalar(title, series, float(value), int(step))
    except Exception as exc:  # capture must never break the user's training loop
        from ductwork.sdk.capture.console import original_stderr

        print(f"ductwork: TensorBoard capture of {title}/{series} failed: {exc}", file=original_stderr())
