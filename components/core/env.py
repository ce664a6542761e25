"""core/ReadEnv."""

import os
from typing import Any

from flowpy import IP, Component, InPort, InPorts, OutPort, OutPorts
from flowpy_components._support.base import reject

MISSING_DEFAULT = object()


class ReadEnv(Component):
    """Sends the value of the environment variable named by each string on `in`.

    conf: {"default": value}: what a variable that is not set gives; without one, an unset
    variable goes to `error` as {message, input} (or fails the process when `error` is not
    connected). Values are text, as the environment holds them. Brackets pass through.
    """

    icon = "leaf"
    inports = InPorts(
        InPort("in", datatype="string", description="variable names"),
        InPort("conf", datatype="object", description="{default}"),
    )
    outports = OutPorts(
        OutPort("out", description="the values"),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} for a variable that is not set (and no default)",
        ),
    )

    def run(self) -> None:
        """Look up each name of `in`; brackets pass through."""
        default: Any = self.options({"default": MISSING_DEFAULT})["default"]
        out = self.outports["out"]
        for ip in self.inports["in"]:
            if not ip.is_data:
                if not out.send(ip):
                    return
                continue
            name = ip.data
            if not isinstance(name, str) or not name or "=" in name:
                reject(
                    self,
                    f"a variable name must be a non-empty string without '=', not {name!r}",
                    name,
                )
                continue
            value = os.environ.get(name, default)
            if value is MISSING_DEFAULT:
                reject(self, f"environment variable {name} is not set", name)
                continue
            if not out.send(IP.make_data(value)):
                return
