"""TensorBoard capture: what a `SummaryWriter` of torch.utils.tensorboard or tensorboardX
writes also goes to the current task (the event files are still written as usual):
`add_scalar(s)` -> scalars, `add_histogram` -> histograms, `add_image` -> images,
`add_text` -> console text.

A tag `loss/train` becomes title `loss`, series `train`; a tag without `/` is both.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, SupportsFloat, SupportsInt

if TYPE_CHECKING:
    import numpy as np

from ductwork.sdk import current
from ductwork.sdk.capture import hooks
from ductwork.sdk.capture.console import original_stderr
from ductwork.sdk.logger import Logger

# A `SummaryWriter` method as we wrap it: (writer, tag, value, global_step, ...) -> its result.
WriterMethod = Callable[..., object]
# Reports one add_* call to the task: (logger, title, series, value, step, the call's keywords).
Report = Callable[["Logger", str, str, object, int, dict[str, object]], None]

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
            self: object,
            tag: str,
            scalar_value: SupportsFloat,
            global_step: SupportsInt | None = None,
            *a: object,
            **k: object,
        ) -> object:
            result = add_scalar(self, tag, scalar_value, global_step, *a, **k)
            title, series = split_tag(tag)
            _report(self, title, series, scalar_value, global_step)
            return result

        writer.add_scalar = patched_add_scalar
    if add_scalars is not None:

        def patched_add_scalars(
            self: object,
            main_tag: str,
            tag_scalar_dict: dict[str, SupportsFloat],
            global_step: SupportsInt | None = None,
            *a: object,
            **k: object,
        ) -> object:
            result = add_scalars(self, main_tag, tag_scalar_dict, global_step, *a, **k)
            for series, value in dict(tag_scalar_dict).items():
                _report(self, str(main_tag), str(series), value, global_step)
            return result

        writer.add_scalars = patched_add_scalars
    for method, report in (("add_histogram", _histogram), ("add_image", _image), ("add_text", _text)):
        original = getattr(writer, method, None)
        if original is not None:
            setattr(writer, method, _wrapped(original, report))
    writer._ductwork_patched = True


def _wrapped(original: WriterMethod, report: Report) -> WriterMethod:
    def patched(
        self: object,
        tag: str,
        value: object,
        global_step: SupportsInt | None = None,
        *args: object,
        **kwargs: object,
    ) -> object:
        result = original(self, tag, value, global_step, *args, **kwargs)
        task = current.get()
        if task is not None and task._captures(FRAMEWORK):
            try:
                title, series = split_tag(tag)
                report(Logger.of(task), title, series, value, _step(self, global_step), kwargs)
            except Exception as exc:  # capture must never break the user's training loop
                _warn(f"{tag}: {exc}")
        return result

    return patched


def _step(writer: object, step: SupportsInt | None) -> int:
    if step is None:
        # TensorBoard counts steps per writer when none is given; so do we.
        counted = int(getattr(writer, "_ductwork_step", 0))
        setattr(writer, "_ductwork_step", counted + 1)  # noqa: B010  (an attribute of the user's writer)
        return counted
    return int(step)


def _array(value: object) -> np.ndarray[Any, Any]:
    import numpy as np

    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _histogram(
    logger: Logger, title: str, series: str, values: object, step: int, kwargs: dict[str, object]
) -> None:
    import numpy as np

    counts, edges = np.histogram(_array(values).ravel(), bins=30)
    centers = [round(float(x), 6) for x in (edges[:-1] + edges[1:]) / 2]
    logger.report_histogram(title, series, counts.tolist(), iteration=step, xlabels=centers)


def _image(
    logger: Logger, title: str, series: str, image: object, step: int, kwargs: dict[str, object]
) -> None:
    import numpy as np

    array = _array(image)
    layout = str(kwargs.get("dataformats", "CHW")).upper()
    if array.ndim == 3 and layout == "CHW":
        array = np.transpose(array, (1, 2, 0))
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.dtype.kind == "f" and array.size and float(array.max()) <= 1.0:
        array = (array * 255).clip(0, 255).astype(np.uint8)
    logger.report_image(title, series, iteration=step, image=array)


def _text(
    logger: Logger, title: str, series: str, text: object, step: int, kwargs: dict[str, object]
) -> None:
    logger.report_text(f"{title}/{series} [{step}]: {text}", print_console=False)


def _warn(message: str) -> None:
    print(f"ductwork: TensorBoard capture of {message} failed", file=original_stderr())


def _report(writer: object, title: str, series: str, value: SupportsFloat, step: SupportsInt | None) -> None:
    task = current.get()
    if task is None or not task._captures(FRAMEWORK):
        return
    try:
        if hasattr(value, "item"):
            value = value.item()
        Logger.of(task).report_scalar(title, series, float(value), _step(writer, step))
    except Exception as exc:  # capture must never break the user's training loop
        _warn(f"{title}/{series}: {exc}")
