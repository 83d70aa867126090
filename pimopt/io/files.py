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
from pimopt.memory import check_fits

PACKAGE = Path(__file__).resolve().parent.parent  # the pimopt package
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


UNPACK_ENV = "PIMOPT_MAX_UNPACKED_BYTES"
DEFAULT_UNPACK_LIMIT = 4 << 30  # 4 GiB: the largest schedule of the bundled instances is ~3


def unpack_limit() -> int:
    """Bytes a compressed file may unpack to (``$PIMOPT_MAX_UNPACKED_BYTES``, default
    4 GiB): a small file that claims more is refused before anything is allocated."""
    text = os.environ.get(UNPACK_ENV, "").strip()
    if not text:
        return DEFAULT_UNPACK_LIMIT
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 1:
        raise InputError(f"${UNPACK_ENV} = {text!r} is invalid: a number of bytes >= 1")
    return value


def _check_unpacked(size: int, path: str | Path, what: str, detail: str) -> None:
    """Refuse unpacking ``size`` bytes beyond the limit or the memory available."""
    limit = unpack_limit()
    if size > limit:
        raise InputError(f"{what} {path} unpacks to {size:,} bytes{detail}, above the limit of "
                         f"{limit:,} bytes (a damaged or hostile file; raise ${UNPACK_ENV} "
                         "if it is genuine)")
    check_fits(size, f"unpacking {what} {path}", "free memory or use a machine with more")


def gunzip_text(raw: bytes, path: str | Path, what: str, fmt: str) -> str:
    """The UTF-8 text inside gzip-compressed bytes; errors name the file and its format.

    Decompression stops one byte past an eighth of :func:`unpack_limit` (parsed
    text takes several times its size in memory): a gzip bomb is refused, not
    inflated."""
    cap = max(1, unpack_limit() // 8)
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as fh:
            data = fh.read(cap + 1)
        if len(data) > cap:
            raise InputError(f"{what} {path} unpacks to more than {cap:,} bytes of text, above "
                             f"the limit (an eighth of ${UNPACK_ENV} = {unpack_limit():,} "
                             "bytes: parsing takes several times the text; raise it if the "
                             "file is genuine)")
        return data.decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        raise InputError(f"{what} {path} is not gzip-compressed {fmt}: {exc}") from None


# what numpy and zipfile raise on a damaged .npz (a flipped byte can name an unsupported
# compression method or encryption, or break the deflate stream)
NPZ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error,
              NotImplementedError)


def _npz_sizes(zf: zipfile.ZipFile, path: str | Path, what: str) -> int:
    """Bytes the arrays of an open ``.npz`` archive take once loaded, read from each
    member's ``.npy`` header (shape x dtype) before any array is inflated."""
    import numpy as np

    total = 0
    for info in zf.infolist():
        if not info.filename.endswith(".npy"):
            raise InputError(f"{what} {path}: member {info.filename!r} is not a .npy array")
        with zf.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise InputError(f"{what} {path}: member {info.filename!r} has .npy format "
                                 f"version {version}: 1.0 or 2.0")
        if dtype.hasobject:
            raise InputError(f"{what} {path}: member {info.filename!r} holds Python objects")
        n = 1
        for d in shape:  # Python integers: exact, whatever the header claims
            n *= int(d)
        size = n * dtype.itemsize
        if size > info.file_size:  # the member cannot hold what its header declares
            raise InputError(f"{what} {path}: member {info.filename!r} declares {shape} "
                             f"{dtype} ({size:,} bytes) but holds {info.file_size:,}")
        total += size
    return total


def load_npz(raw: bytes, path: str | Path, what: str) -> dict[str, Any]:
    """Every array of an ``.npz`` archive (no pickles); errors name the file.

    The arrays' sizes are read from their headers first and refused beyond
    :func:`unpack_limit` or the memory available (a decompression bomb costs
    nothing)."""
    import numpy as np

    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            _check_unpacked(_npz_sizes(zf, path, what), path, what, " of arrays")
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except InputError:
        raise
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
