"""Reading documents (YAML or JSON) into typed models, with errors that name the field."""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import pickle
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from carbonlink.errors import DocumentError, from_validation_error

if TYPE_CHECKING:  # imported where used: `check` and the reference data never build scenarios
    from carbonlink.model.scenario import Scenario

M = TypeVar("M", bound=BaseModel)

#: libyaml's parser when PyYAML was built with it (≈6× faster than the pure-Python one on a
#: large document), with the same safe constructor and resolver, so the same values
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` with libyaml's parser when available. Malformed text is parsed again
    by the pure-Python loader, whose error is raised: it points at the offending character
    (libyaml marks an unclosed ``[`` at the end of the stream, past the last line)."""
    try:
        return yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        if _SafeLoader is yaml.SafeLoader:
            raise
        return yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506 - raises the same problem


class _ParsedYamlUnpickler(pickle.Unpickler):
    """Reads back only what a safe YAML load yields: builtins (dict, list, str, bytes, numbers,
    bools, None, sets) and the ``datetime`` types of YAML timestamps; any other global is refused."""

    _ALLOWED = {("datetime", "date"), ("datetime", "datetime"), ("datetime", "timezone"),
                ("datetime", "timedelta")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return getattr(datetime, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a parsed YAML document")


def load_data_file(path: Path) -> Any:
    """:func:`safe_load` of a shipped data file (the rules table, jurisdictions, ETSs), read back
    from a cache beside Python's bytecode when the file is unchanged: constructing the ~160 kB of
    shipped YAML costs more than the rest of ``carbonlink check`` (issue 13). The cache is keyed
    by the file's content hash, written only where Python would write bytecode
    (``PYTHONDONTWRITEBYTECODE`` and read-only installs skip it) and holds the parsed value, so
    a changed file is parsed again and an unreadable cache is ignored."""
    data = path.read_bytes()
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    cache_dir = path.parent / "__pycache__"
    cache = cache_dir / f"{path.name}.{digest}.pickle"
    try:
        with cache.open("rb") as f:
            return _ParsedYamlUnpickler(f).load()
    except (OSError, EOFError, ValueError, TypeError, AttributeError, pickle.UnpicklingError):
        pass
    value = safe_load(data.decode("utf-8"))
    if not sys.dont_write_bytecode:
        _write_cache(cache, value, stale=f"{path.name}.*.pickle")
    return value


def _write_cache(cache: Path, value: Any, *, stale: str) -> None:
    import tempfile  # only when a cache is written

    buf = io.BytesIO()
    try:
        pickle.dump(value, buf, protocol=pickle.HIGHEST_PROTOCOL)
        cache.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=cache.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(buf.getvalue())
            os.replace(tmp, cache)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        for old in cache.parent.glob(stale):  # caches of earlier versions of the file
            if old != cache:
                old.unlink(missing_ok=True)
    except (OSError, pickle.PicklingError):  # read-only install, full disk: parse next time too
        pass


def read_document(path: str | Path) -> Any:
    """Parse a YAML or JSON file; a missing or malformed file raises :class:`DocumentError`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DocumentError("<file>", f"no such file: {p}", source=str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DocumentError("<file>", f"cannot read: {exc}", source=str(p)) from None
    return parse_document(text, json_only=p.suffix.lower() == ".json", source=str(p))


def parse_document(text: str, *, json_only: bool = False, source: str | None = None) -> Any:
    """Parse document text: YAML (which reads most JSON too), or strictly JSON with
    ``json_only``. Malformed text raises :class:`DocumentError` naming the line and the reason."""
    try:
        if json_only:
            return json.loads(text)
        return safe_load(text)
    except json.JSONDecodeError as exc:
        raise DocumentError(f"line {exc.lineno}", f"malformed JSON: {exc.msg}", source=source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "<document>"
        problem = getattr(exc, "problem", None) or str(exc)
        raise DocumentError(where, f"malformed YAML: {problem}", source=source) from None
    except RecursionError:
        raise DocumentError("<document>", "nested too deeply", source=source) from None


def validate_document(model: type[M], data: Any, *, source: str | None = None,
                      base_dir: str | Path | None = None) -> M:
    """Validate parsed data as ``model``; errors name the field path and the reason."""
    if not isinstance(data, dict):
        raise DocumentError("<document>", f"must be a mapping, got {type(data).__name__}", source=source)
    try:
        return model.model_validate(data, context={"base_dir": str(base_dir) if base_dir else None})
    except ValidationError as exc:
        raise from_validation_error(exc, source=source) from None


def load_document(model: type[M], path_or_data: str | Path | dict[str, Any] | M) -> M:
    """A ``model`` document from a file path (YAML/JSON; relative paths inside resolve against
    its folder), a parsed mapping, or an instance (returned as is)."""
    if isinstance(path_or_data, model):
        return path_or_data
    if isinstance(path_or_data, dict):
        return validate_document(model, path_or_data)
    p = Path(path_or_data)  # type: ignore[arg-type]
    return validate_document(model, read_document(p), source=str(p), base_dir=p.parent)


def load_scenario(path_or_data: str | Path | dict[str, Any] | Scenario) -> Scenario:
    """A :class:`Scenario` from a file path, a parsed mapping, or a scenario (returned as is)."""
    from carbonlink.model.scenario import Scenario

    return load_document(Scenario, path_or_data)
