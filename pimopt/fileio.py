"""Reading and writing files with errors that name the file and what is wrong."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import tempfile
import tomllib
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pimopt.errors import InputError

PACKAGE = Path(__file__).parent
DATA_DIRS = (PACKAGE / "data", PACKAGE / "data" / "instances")  # where pimopt:NAME is looked up


def package_path(spec: str | Path, suffix: str = "") -> Path:
    """The file a ``pimopt:NAME`` reference names: ``NAME`` (``suffix`` added if missing)
    under the package's data (``pimopt/data``, then ``pimopt/data/instances``: the
    repository's instances, suites and sweeps, installed with the package);
    ``pimopt:data/...`` is also relative to the package itself.
    """
    name = str(spec).removeprefix("pimopt:")
    names = [name] if not suffix or name.endswith(suffix) else [name + suffix, name]
    for base in (*DATA_DIRS, PACKAGE):
        for n in names:
            if (base / n).is_file():
                return (base / n).resolve()
    raise InputError(f"{spec} names no file shipped with pimopt (looked for "
                     f"{' or '.join(names)} in {', '.join(str(d) for d in (*DATA_DIRS, PACKAGE))})")


def format_by_name(path: str | Path, formats: tuple[str, ...], what: str) -> str:
    """The format a file's name ends with (``formats`` longest first, e.g. ``json.gz``
    before ``json``); an error names the file and the endings allowed."""
    name = Path(path).name.lower()
    for fmt in sorted(formats, key=len, reverse=True):
        if name.endswith("." + fmt):
            return fmt
    raise InputError(f"{what} {path}: the name must end with "
                     f"{', '.join('.' + f for f in formats)}")


def read_json(path: str | Path, what: str) -> Any:
    """Parse a JSON file; ``what`` names it in errors (``"schedule file"``)."""
    return _read(path, what, json.loads, json.JSONDecodeError, "JSON")


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """Parse a TOML file; ``what`` names it in errors (``"suite file"``)."""
    data: dict[str, Any] = _read(path, what, tomllib.loads, tomllib.TOMLDecodeError, "TOML")
    return data


def _read(path: str | Path, what: str, parse: Callable[[str], Any],
          error: type[Exception], fmt: str) -> Any:
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{what} {p} is a folder, not a file")
    try:
        return parse(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{what} {p} does not exist") from None
    except OSError as exc:
        raise InputError(f"{what} {p} cannot be read: {exc.strerror or exc}") from None
    except RecursionError:
        raise InputError(f"{what} {p} is nested too deeply to be a valid {fmt} file") from None
    except (error, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{what} {p} is not valid {fmt}: {exc}") from None


def read_bytes(path: str | Path, what: str) -> bytes:
    """A binary file's bytes; ``what`` names it in errors (missing, a folder, unreadable)."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{what} {p} is a folder, not a file")
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} {p} does not exist") from None
    except OSError as exc:
        raise InputError(f"{what} {p} cannot be read: {exc.strerror or exc}") from None


def gunzip_text(raw: bytes, path: str | Path, what: str, fmt: str) -> str:
    """The UTF-8 text inside gzip-compressed bytes; errors name the file and its format."""
    try:
        return gzip.decompress(raw).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(f"{what} {path} is not gzip-compressed {fmt}: {exc}") from None


# what numpy and zipfile raise on a damaged .npz (a flipped byte can name an unsupported
# compression method or encryption, or break the deflate stream)
NPZ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error,
              NotImplementedError)


def load_npz(raw: bytes, path: str | Path, what: str) -> dict[str, Any]:
    """Every array of an ``.npz`` archive (no pickles); errors name the file."""
    import numpy as np

    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except NPZ_ERRORS as exc:
        raise InputError(f"{what} {path} is not a valid .npz archive: {exc}") from None


def write_atomic(path: Path, text: str) -> None:
    """Write a text file atomically (temporary file in the same folder, then rename)."""
    write_atomic_bytes(path, text.encode("utf-8"))


def write_atomic_bytes(path: Path, data: bytes) -> None:
    """Write a file atomically (temporary file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())  # the record is on disk before it gets its name
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results are not
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


NPZ_LEVEL = 1  # deflate level of written .npz files: 2-3x faster than numpy's 6, a bit larger


def npz_bytes(arrays: dict[str, Any]) -> bytes:
    """An ``.npz`` archive of ``arrays`` (what ``numpy.savez_compressed`` writes, read by
    ``numpy.load``), deflated at :data:`NPZ_LEVEL`."""
    import numpy as np

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED,
                         compresslevel=NPZ_LEVEL) as zf:
        for name, value in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(value), allow_pickle=False)
    return buf.getvalue()


def write_folder(out: Path, files: dict[str, str | bytes]) -> None:
    """Write all files into a temporary folder, then move them into ``out`` together
    (no partial result is left behind if writing fails)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    tmp.chmod(0o755)  # mkdtemp makes it private; the results folder is not
    try:
        for name, data in files.items():
            (tmp / name).write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        if not out.exists():
            os.replace(tmp, out)
            return
        for name in files:
            os.replace(tmp / name, out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
