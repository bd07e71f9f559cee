"""Under gevent (`webui serve`), C-bound steps run in native threads and a socket write never waits for its reader.

Each check runs in a fresh interpreter, because gevent's patches last for the whole process.
"""
import subprocess
import sys
import textwrap

from webui import cooperative

# A step that computes without yielding, as llama.cpp or scrypt do: the unpatched sleep holds the OS thread.
TICKS_DURING_STEPS = """
from webui import cooperative
cooperative.patch()
import gevent
from gevent import monkey

hold_thread = monkey.get_original("time", "sleep")
ticks = []

def tick():
    for _ in range(200):
        ticks.append(1)
        gevent.sleep(0.005)

def steps():
    for i in range(3):
        hold_thread(0.1)
        yield i

gevent.spawn(tick)
gevent.sleep(0)
before = len(ticks)
assert list({iterate}) == [0, 1, 2]
print(len(ticks) - before)
"""


def run_patched(script):
    """Run `script` in a new interpreter; its standard output."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_native_steps_let_other_greenlets_run_while_a_step_computes():
    offloaded = int(run_patched(TICKS_DURING_STEPS.format(iterate="cooperative.native_steps(steps())")))
    in_the_hub = int(run_patched(TICKS_DURING_STEPS.format(iterate="steps()")))
    # 0.3 s of steps: a 5 ms ticker gets ~60 turns when they run aside, none when they hold the hub's thread.
    assert offloaded >= 20
    assert in_the_hub <= 2


# Loading the bundled model (and importing llama.cpp) while a ticker greenlet runs.
TICKS_DURING_MODEL_LOAD = """
from webui import cooperative
cooperative.patch()
import gevent
from webui.providers import local

ticks = []

def tick():
    for _ in range(5000):
        ticks.append(1)
        gevent.sleep(0.002)

gevent.spawn(tick)
gevent.sleep(0)
before = len(ticks)
{load}(local.bundled_model_path(), 512, 1)
print(len(ticks) - before)
"""


def test_a_local_model_loads_while_other_greenlets_run():
    aside = int(run_patched(TICKS_DURING_MODEL_LOAD.format(load="local.load")))
    in_the_hub = int(run_patched(TICKS_DURING_MODEL_LOAD.format(load="local.open_model")))
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
    script = """
        from webui import cooperative
        cooperative.patch()
        import gevent

        ticks = []

        def tick():
            while True:
                ticks.append(1)
                gevent.sleep(0)

        gevent.spawn(tick)
        gevent.sleep(0)
        chunks = range(10 * cooperative.CHUNKS_PER_TURN)
        before = len(ticks)
        seen = list({wrap})
        assert seen == list(chunks), "every item, in order"
        print(len(ticks) - before)
    """
    assert int(run_patched(script.format(wrap="cooperative.taking_turns(chunks)"))) >= 9
    assert int(run_patched(script.format(wrap="chunks"))) == 0

