"""files/MakeDir, files/Remove, files/Move and files/Copy: changing the file system.

Each sends what it made or changed on `out` (the path, or the destination), so steps chain;
a failure (permissions, a missing source) goes to `error` as {message, input}, or fails the
process when `error` is not connected. Relative paths are relative to the graph file's folder
(docs/graphs.md#relative-paths); what goes out on `out` is the path as the graph gave it."""

import os
import shutil
from typing import Any

from flowpy import BadInput, InPort, InPorts, OutPort, OutPorts, Transform
from flowpy_components._support.base import flag, short


def _path(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise BadInput(f"a path must be a non-empty string, not {short(value)}")
    return value


def _pair(value: Any) -> tuple[str, str]:
    """{from, to} or [from, to]."""
    if isinstance(value, dict) and set(value) == {"from", "to"}:
        return _path(value["from"]), _path(value["to"])
    if isinstance(value, list) and len(value) == 2:
        return _path(value[0]), _path(value[1])
    raise BadInput(f'give {{"from": path, "to": path}} or [from, to], not {short(value)}')


def _ports(what: str, takes: str) -> tuple[InPorts, OutPorts]:
    return (
        InPorts(
            InPort("in", description=takes),
            InPort("conf", datatype="object", description="options"),
        ),
        OutPorts(
            OutPort("out", datatype="string", description=what),
            OutPort("error", datatype="object", description="{message, input}"),
        ),
    )


class _FileOp:
    """For a Transform: transform() runs ``act``, an OSError becoming bad input naming the path."""

    defaults: dict[str, bool] = {}
    reaches = ("files",)

    def setup(self) -> None:
        options = self.options(self.defaults)  # type: ignore[attr-defined]
        self.flags = {
            key: flag(value, f"{self.node_id}: {key}")  # type: ignore[attr-defined]
            for key, value in options.items()
        }

    def act(self, value: Any) -> str:
        raise NotImplementedError

    def _resolved(self, value: Any) -> tuple[str, str, str]:
        """(source, destination) as this process opens them, and the destination as the
        graph gave it (into ``to`` when that is a folder)."""
        source_given, target_given = _pair(value)
        source = self.path(source_given)  # type: ignore[attr-defined]
        target = self.path(target_given)  # type: ignore[attr-defined]
        destination = _destination(source, target, self.flags["overwrite"])
        if destination == target:
            return source, destination, target_given
        name = os.path.basename(os.path.normpath(source_given))
        return source, destination, os.path.join(target_given, name)

    def transform(self, value: Any) -> str:
        try:
            return self.act(value)
        except OSError as exc:
            where = exc.filename or value
            raise BadInput(
                f"cannot {type(self).__name__.lower()} {where}: {exc.strerror or exc}"
            ) from None


class MakeDir(_FileOp, Transform):
    """Creates the folder named by each path on `in`, with its missing parents, and sends
    the path on `out`; a folder that exists already is fine.

    conf: {"parents": true, "exist_ok": true}.
    """

    icon = "folder"
    defaults = {"parents": True, "exist_ok": True}
    inports, outports = _ports("the folders made", "folder paths")

    def act(self, value: Any) -> str:
        """Make the folder (and its parents when asked); the path given goes on."""
        given = _path(value)
        path = self.path(given)  # type: ignore[attr-defined]
        if self.flags["parents"]:
            os.makedirs(path, exist_ok=self.flags["exist_ok"])
        elif not (self.flags["exist_ok"] and os.path.isdir(path)):
            os.mkdir(path)
        return given


class Remove(_FileOp, Transform):
    """Removes the file (or empty folder) named by each path on `in` and sends the path on
    `out`.

    conf: {"recursive": false, "missing_ok": false}: "recursive" removes a folder with all
    it holds; "missing_ok" makes a path that does not exist no error.
    """

    icon = "trash"
    defaults = {"recursive": False, "missing_ok": False}
    inports, outports = _ports("the paths removed", "paths")

    def act(self, value: Any) -> str:
        """Remove the file or folder (its contents too when recursive); the path given goes on."""
        given = _path(value)
        path = self.path(given)  # type: ignore[attr-defined]
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path) if self.flags["recursive"] else os.rmdir(path)
            else:
                os.remove(path)
        except FileNotFoundError:
            if not self.flags["missing_ok"]:
                raise
        return given


class Move(_FileOp, Transform):
    """Moves (renames) a file or folder for each {"from": path, "to": path} (or [from,
    to]) on `in`, and sends where it went on `out`: into `to` when that is a folder.

    conf: {"overwrite": false}: a destination file that exists is an error unless true.
    """

    icon = "arrow-right"
    defaults = {"overwrite": False}
    inports, outports = _ports("the destinations", "{from, to} or [from, to]")

    def act(self, value: Any) -> str:
        """Move the source to the destination; the destination path as given goes on."""
        source, target, given = self._resolved(value)
        shutil.move(source, target)
        return given


class Copy(_FileOp, Transform):
    """Copies a file, or a folder with all it holds, for each {"from": path, "to": path}
    (or [from, to]) on `in`, and sends the copy's path on `out`: into `to` when that is a
    folder. File contents and modes are copied.

    conf: {"overwrite": false}: a destination that exists is an error unless true.
    """

    icon = "copy"
    defaults = {"overwrite": False}
    inports, outports = _ports("the copies' paths", "{from, to} or [from, to]")

    def act(self, value: Any) -> str:
        """Copy the source (a folder with its contents) to the destination, which goes on."""
        source, target, given = self._resolved(value)
        if os.path.isdir(source):
            shutil.copytree(source, target, dirs_exist_ok=self.flags["overwrite"])
        else:
            shutil.copy2(source, target)
        return given


def _destination(source: str, target: str, overwrite: bool) -> str:
    """``target``, or ``target/<name of source>`` when target is a folder; FileExistsError
    when that exists and ``overwrite`` is false (FileNotFoundError for a missing source)."""
    if not os.path.lexists(source):
        raise FileNotFoundError(2, "no such file or folder", source)
    if os.path.isdir(target):
        target = os.path.join(target, os.path.basename(os.path.normpath(source)))
    if os.path.lexists(target) and not overwrite:
        raise FileExistsError(17, "exists already (conf overwrite: true replaces it)", target)
    return target
