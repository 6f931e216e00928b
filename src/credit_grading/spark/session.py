"""A quiet Spark session for rescoring, and Spark's failures turned into one message.

The session runs its Python workers with this interpreter, has Arrow on, the UI and the
console progress bar off, times in UTC, and logs nothing to the console: the JVM that
``pyspark`` starts is given a log4j configuration with every logger off, and (unless
``verbose``) its standard output and error go to the null device, so a failed run prints
the one message :func:`spark_error` makes of the failure, never Spark's log or a traceback.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

from credit_grading.exceptions import CreditGradingError, DataError

_LOG4J = Path(__file__).with_name("log4j2.properties")  # every logger off


@contextlib.contextmanager
def quiet_fds(enabled: bool = True) -> Iterator[None]:
    """Standard output and error pointed at the null device while the block runs (a process
    started inside inherits them; this process gets its own back afterwards)."""
    if not enabled:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def quiet_python_loggers() -> None:
    """PySpark's own Python loggers (each failed query logs its exception as JSON) off."""
    import logging

    for name in ("DataFrameQueryContextLogger", "SQLQueryContextLogger", "py4j", "py4j.clientserver"):
        logging.getLogger(name).disabled = True


def active_session():
    """The Spark session already running in this process, if any."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return None
    return SparkSession.getActiveSession()


def session(master: str = "local[2]", app_name: str = "credit_grading", conf: dict[str, str] | None = None,
            *, verbose: bool = False):  # fmt: skip
    """A Spark session with Arrow on, its Python workers running this interpreter, logs off.

    ``conf`` holds further Spark settings (``spark.executor.memory`` …); an existing session
    in this process is returned as it is (its master and settings stay).
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise DataError("--engine spark needs pyspark: pip install 'credit_grading[spark]'") from None
    java_opts = f"-Dlog4j.configurationFile={_LOG4J.as_uri()}"
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", java_opts)
    )
    for k, v in (conf or {}).items():
        builder = builder.config(k, v)
    with warnings.catch_warnings(), quiet_fds(not verbose):
        warnings.simplefilter("ignore")
        try:
            spark = builder.getOrCreate()
        except Exception as exc:  # the JVM did not start, or the master cannot be reached
            raise spark_error(exc, f"cannot start Spark (master {master})") from None
    spark.sparkContext.setLogLevel("OFF")
    if not verbose:
        quiet_python_loggers()
    return spark


_OUR_ERROR = re.compile(r"credit_grading\.exceptions\.(\w+): (.*?)(?:\n\S|\n*\Z)", re.S)
_PY_ERROR = re.compile(r"^(\w+(?:Error|Exception)): (.+)$", re.M)


def spark_error(exc: BaseException, what: str) -> CreditGradingError:
    """One message for a failure inside Spark: our own error raised in a task keeps its text;
    anything else is named by its first line."""
    if isinstance(exc, CreditGradingError):
        return exc
    text = str(exc)
    m = _OUR_ERROR.search(text)
    if m:
        return DataError(" ".join(m.group(2).split()))
    errors = _PY_ERROR.findall(text.split("JVM stacktrace:")[0])
    if errors:
        name, msg = errors[-1]
        return DataError(f"{what} failed: {name}: {msg.strip()}")
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return DataError(f"{what} failed: {first[:500]}")
