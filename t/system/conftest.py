"""pytest fixtures for the moondns system tests.

Servers are real processes on free loopback ports, each in its own temporary
directory with a generated config. A module usually starts one server per
configuration it needs (module-scoped pools) and every test queries it. A
server is stopped by PID at the end of its scope; a moondns that had died,
did not exit 0 on SIGTERM, or printed a sanitizer report fails the run. The
stderr of the servers a failing test used is attached to its report.
"""
import pytest

import helpers as h


def pytest_report_header(config):
    return [f"moondns: {h.MOONDNS} (slowdown factor {h.SLOW:g})",
            f"sources: {h.SRCDIR}",
            f"random seed: MOON_FUZZ_SEED={h.FUZZ_SEED}"]


class Pool:
    """Starts daemons on demand and stops them all at the end of a scope."""

    def __init__(self, tmp_path_factory):
        self.tmp = tmp_path_factory
        self.started = []

    def moondns(self, config, port, files=None, name="moondns", probe_name=None,
                config_path=None):
        """config: a dict (written as YAML) or YAML text, or None with
        config_path; files: extra files {name: text} written next to it.
        Returns once it answers UDP and TCP on 127.0.0.1:port."""
        d = self.tmp.mktemp(name)
        m = h.Moondns(str(d), config, port, name=name, files=files, probe_name=probe_name,
                      config_path=config_path)
        self.started.append(m)
        return m.start()

    def knotd(self, port, zones, server_extra=""):
        d = self.tmp.mktemp("knotd")
        k = h.Knotd(str(d), port, zones, server_extra=server_extra)
        self.started.append(k)
        return k.start()

    def finish(self):
        problems = []
        for d in self.started:
            if isinstance(d, h.Moondns):
                found = d.stop_and_check()
                if found:
                    problems.append("\n".join(found) + f"\n--- stderr of {d.name} ---\n"
                                    + d.stderr_tail(80))
            else:
                d.stop()
        return problems


def _pool_fixture(request, tmp_path_factory):
    pool = Pool(tmp_path_factory)
    yield pool
    problems = pool.finish()
    if problems:
        pytest.fail("server problems at teardown:\n" + "\n\n".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def servers(request, tmp_path_factory):
    """Module-scoped pool: start servers shared by every test of a module."""
    yield from _pool_fixture(request, tmp_path_factory)


@pytest.fixture
def own_servers(request, tmp_path_factory):
    """Function-scoped pool for tests that need a server of their own."""
    yield from _pool_fixture(request, tmp_path_factory)


def _daemons_of(item):
    seen = []
    for value in getattr(item, "funcargs", {}).values():
        cands = value.started if isinstance(value, Pool) else [value]
        for d in cands:
            if isinstance(d, h.Daemon) and d not in seen:
                seen.append(d)
    return seen


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for d in _daemons_of(item):
            state = "running" if d.alive() else f"exited with {d.proc.returncode}"
            rep.sections.append((f"stderr of {d.name} (pid {d.pid}, {state})",
                                 d.stderr_tail(60)))
