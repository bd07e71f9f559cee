"""Under gevent (`webui serve`), C-bound steps run in native threads and a socket write never waits for its reader.

Each check runs in a fresh interpreter, because gevent's patches last for the whole process.
"""
import subprocess
import sys
import textwrap

from webui import cooperative

# A greenlet that counts its turns while `work` runs, in a fresh interpreter under gevent.
TICKER = """
from webui import cooperative
cooperative.patch()
import gevent
{setup}
ticks = []

def tick():
    for _ in range(100_000):
        ticks.append(1)
        gevent.sleep({interval})

gevent.spawn(tick)
gevent.sleep(0)
before = len(ticks)
{work}
print(len(ticks) - before)
"""

# A step that computes without yielding, as llama.cpp or scrypt do: the unpatched sleep holds the OS thread.
STEPS = """
from gevent import monkey
hold_thread = monkey.get_original("time", "sleep")

def steps():
    for i in range(3):
        hold_thread(0.1)
        yield i
"""


def run_patched(script):
    """Run `script` in a new interpreter; its standard output."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def ticks_during(work, setup="", interval=0):
    """How many turns the ticker got while `work` ran after `setup`, sleeping `interval` seconds between turns."""
    return int(run_patched(TICKER.format(setup=setup, work=work, interval=interval)))


def test_native_steps_let_other_greenlets_run_while_a_step_computes():
    offloaded = ticks_during("assert list(cooperative.native_steps(steps())) == [0, 1, 2]", STEPS, 0.005)
    in_the_hub = ticks_during("assert list(steps()) == [0, 1, 2]", STEPS, 0.005)
    # 0.3 s of steps: a 5 ms ticker gets ~60 turns when they run aside, none when they hold the hub's thread.
    assert offloaded >= 20
    assert in_the_hub <= 2


def test_a_local_model_loads_while_other_greenlets_run():
    # Loading the bundled model, the import of llama.cpp included.
    setup = "from webui.providers import local"
    aside = ticks_during("local.load(local.bundled_model_path(), 512, 1)", setup, 0.002)
    in_the_hub = ticks_during("local.open_model(local.bundled_model_path(), 512, 1)", setup, 0.002)
    assert aside >= 5, "the other greenlets stood still while the model loaded"
    assert in_the_hub <= 1


def test_an_error_in_a_native_thread_reaches_the_caller():
    output = run_patched("""
        from webui import cooperative
        cooperative.patch()
        try:
            cooperative.in_native_thread(int, "not a number")
        except ValueError as e:
            print("raised", e)
    """)
    assert output.startswith("raised invalid literal")


def test_a_write_to_a_reader_that_does_not_read_returns_at_once():
    output = run_patched("""
        from webui import cooperative
        cooperative.patch()
        import gevent, socket

        ours, theirs = socket.socketpair()
        send = cooperative.send_without_waiting(ours)
        taken = 0
        with gevent.Timeout(10, RuntimeError("a send waited for the reader")):
            for _ in range(10_000):
                try:
                    taken += send(b"x" * 65536)
                except BlockingIOError:
                    print("refused after", taken)
                    break
    """)
    assert output.startswith("refused after ")
    assert int(output.split()[-1]) > 0


def test_without_gevent_nothing_changes():
    assert not cooperative.patched()
    assert list(cooperative.native_steps(iter("abc"))) == ["a", "b", "c"]
    assert cooperative.in_native_thread(int, "7") == 7
    chunks = iter("abc")
    assert cooperative.taking_turns(chunks) is chunks


def test_a_provider_that_never_blocks_still_lets_others_run():
    work = """
chunks = range(10 * cooperative.CHUNKS_PER_TURN)
assert list({wrap}) == list(chunks), "every item, in order"
"""
    assert ticks_during(work.format(wrap="cooperative.taking_turns(chunks)")) >= 9
    assert ticks_during(work.format(wrap="chunks")) == 0


REST = """
import time
from webui import cooperative
cooperative.patch()
import gevent, threading

def timed(event, seconds, set_after=None):
    if set_after is not None:
        gevent.spawn_later(set_after, event.set)
    began = time.monotonic()
    cooperative.rest(event, seconds)
    return time.monotonic() - began

event = threading.Event()
waited = [timed(event, 0.05), timed(event, 5, set_after=0.02)]
# Set already: no wait. The event and timer of a rest that ended stay harmless: a later rest is not woken by them.
waited.append(timed(event, 5))
event.clear()
waited.append(timed(event, 0.05))
print(" ".join(f"{seconds:.3f}" for seconds in waited))
"""


def test_a_rest_ends_at_its_time_or_when_its_event_is_set_whichever_is_first():
    time_up, set_soon, set_before, time_up_again = map(float, run_patched(REST).split())
    # gevent's timers count from the loop's cached time, which may be a few ms older than the rest's start: a timer
    # may end that much early (0.019 s for 0.02 was seen on a loaded machine).
    assert 0.045 <= time_up < 1
    assert 0.015 <= set_soon < 1
    assert set_before < 0.01
    assert 0.045 <= time_up_again < 1
