"""Running a report's section notebooks with papermill, a few at a time, each in its own kernel;
stopping them at once when the build is stopped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import papermill

from .config import BuildError


def _run_notebooks(templates: list[Path], executed_dir: Path, parameters: dict, cwd: Path, failed_dir: Path,
                   workers: int) -> None:
    """Execute a report's section notebooks, ``workers`` at a time (each has its own kernel and
    writes only its own files). Every notebook runs; the first failing one, in section order,
    fails the build.

    When the run is stopped (Ctrl-C, SIGTERM: a ``KeyboardInterrupt`` here), no further
    notebook starts, the kernels running are killed, and this returns (raising the interrupt)
    only once every notebook thread has ended, so none writes into the build folder after it
    is removed.
    """
    executed_dir.mkdir(parents=True, exist_ok=True)
    kernels = _Kernels()

    def run(template: Path) -> None:
        _run_notebook(template, executed_dir / template.name, parameters, cwd, failed_dir, kernels)

    # once stopped, the kernels killed on purpose are not errors to log (papermill's logger)
    quiet_when_stopped = _QuietWhenStopped(kernels.stopped)
    logging.getLogger("papermill").addFilter(quiet_when_stopped)
    try:
        if workers <= 1:
            try:
                for template in templates:
                    run(template)
            except BaseException:
                kernels.stop()
                raise
            return
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="notebook")
        try:
            futures = [pool.submit(run, template) for template in templates]
            for future in futures:
                future.exception()  # waits; an interrupt here stops the others below
        except BaseException:
            kernels.stop()
            pool.shutdown(wait=False, cancel_futures=True)
            pool.shutdown(wait=True)
            raise
        pool.shutdown(wait=True)
        for future in futures:
            future.result()  # raises the first failure in section order
    finally:
        logging.getLogger("papermill").removeFilter(quiet_when_stopped)


class _QuietWhenStopped(logging.Filter):
    def __init__(self, stopped: threading.Event):
        super().__init__()
        self.stopped = stopped

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.stopped.is_set()


class _Kernels:
    """The notebook kernels of one report, so that they can be stopped at once.

    :attr:`manager_class` is given to papermill (nbclient) as its kernel manager: it records each
    kernel's process as it starts and refuses to start one once :meth:`stop` has been called.
    """

    def __init__(self):
        self.stopped = threading.Event()
        self._processes: list = []  # subprocess.Popen of each kernel started
        self._lock = threading.Lock()
        kernels = self

        from jupyter_client.manager import AsyncKernelManager

        class StoppableKernelManager(AsyncKernelManager):
            async def start_kernel(self, **kw):
                if kernels.stopped.is_set():
                    raise BuildStopped("the build was stopped")
                await super().start_kernel(**kw)
                process = getattr(self.provisioner, "process", None)
                if process is not None:
                    kernels._started(process)

        self.manager_class = StoppableKernelManager

    def _started(self, process) -> None:
        with self._lock:
            self._processes.append(process)
            if not self.stopped.is_set():
                return
        self._kill(process)  # started just as the build was stopped

    def stop(self) -> None:
        """Start no more kernels and kill the running ones (their notebooks then end at once)."""
        with self._lock:
            self.stopped.set()
            running = list(self._processes)
        for process in running:
            self._kill(process)

    @staticmethod
    def _kill(process) -> None:
        # Popen.kill signals only a child still running (never a process id reused since)
        with contextlib.suppress(OSError):
            process.kill()


class BuildStopped(BuildError):
    """The build was stopped (Ctrl-C, SIGTERM) while a notebook was about to start."""


#: how often a section notebook's kernel is started before the notebook is reported as failed
KERNEL_START_ATTEMPTS = 3
_KERNEL_START_FAILURE = re.compile(r"kernel died before replying to kernel_info|kernel didn't respond", re.IGNORECASE)


def _run_notebook(template: Path, executed: Path, parameters: dict, cwd: Path, failed_dir: Path,
                  kernels: _Kernels | None = None) -> None:
    """Execute one section notebook; on failure keep the executed copy in ``failed_dir`` for inspection."""
    if not template.exists():
        raise BuildError(f"notebook {template.name} not found in {template.parent}")
    kernels = kernels or _Kernels()
    if kernels.stopped.is_set():
        raise BuildStopped("the build was stopped")
    try:
        for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
            try:
                papermill.execute_notebook(
                    str(template), str(executed), parameters=parameters,
                    # the kernel starts in cwd; papermill's own cwd= would chdir this whole process,
                    # which notebooks running side by side must not do
                    resources={"metadata": {"path": str(cwd)}},
                    progress_bar=False, kernel_name="python3", log_output=False,
                    # the kernel's own log (a warning about its local TCP ports at every start,
                    # the interrupt it is sent when shut down) would fill the build's output; a
                    # cell's error or the kernel dying reaches the build through papermill
                    extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
                    kernel_manager_class=kernels.manager_class,
                )
                break
            except (RuntimeError, TimeoutError) as error:
                # the kernel died or did not answer before any cell ran: kernels starting side by
                # side can race for the same free TCP port. Start it again; a cell's failure (a
                # PapermillExecutionError) or a kernel dying later is never retried.
                if kernels.stopped.is_set() or not _KERNEL_START_FAILURE.search(str(error)):
                    raise
                if attempt == KERNEL_START_ATTEMPTS:
                    raise BuildError(f"notebook {template.name}: the Python kernel did not start "
                                     f"({attempt} attempts): {error}") from error
    except papermill.PapermillExecutionError as error:
        if kernels.stopped.is_set():
            raise
        failed_dir.mkdir(parents=True, exist_ok=True)
        kept = failed_dir / template.name
        shutil.copy(executed, kept)
        raise BuildError(f"notebook {template.name} failed in cell {error.exec_count}: {error.ename}: {error.evalue}"
                         f" (executed copy kept at {kept})") from error


def _record_final_paths(executed: list[Path], moves: dict[Path, Path]) -> None:
    """Write the folders a build will move its staged outputs to into executed notebooks.

    The notebooks run in staging folders (``.England.partial-...``) that are renamed once the
    report is complete; the parameters papermill injected (the cell a reviewer reads first, and
    the notebook's metadata) would otherwise name folders that no longer exist. Only those paths
    change: the text of every cell and output is otherwise as executed.
    """
    for notebook in executed:
        text = notebook.read_text(encoding="utf-8")
        for staged, final in moves.items():
            # paths appear inside JSON strings (escaped) in the cell source and the metadata
            text = text.replace(json.dumps(str(staged))[1:-1], json.dumps(str(final))[1:-1])
        notebook.write_text(text, encoding="utf-8")
