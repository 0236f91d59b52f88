"""Calls handed to the event loop from other threads (rooms/loop_calls.py): in order, each
run once, a burst of them on one wake-up of the loop."""

import asyncio
import threading

from rooms.loop_calls import LoopCalls


def counting_wakes(loop, monkeypatch):
    wakes = []
    call_soon_threadsafe = loop.call_soon_threadsafe

    def counted(*args, **kwargs):
        if getattr(args[0], "__func__", None) is LoopCalls._run:  # not asyncio.to_thread's
            wakes.append(args[0])
        return call_soon_threadsafe(*args, **kwargs)

    monkeypatch.setattr(loop, "call_soon_threadsafe", counted)
    return wakes


async def test_a_burst_from_another_thread_runs_in_order_on_one_wake_up(monkeypatch):
    loop = asyncio.get_running_loop()
    wakes = counting_wakes(loop, monkeypatch)
    calls = LoopCalls(loop)
    ran: list[int] = []
    done = asyncio.Event()

    def burst():
        for n in range(100):
            calls.call(ran.append, n)
        calls.call(done.set)

    thread = threading.Thread(target=burst)
    thread.start()
    thread.join()  # the whole burst is handed over before the loop runs any of it
    await asyncio.wait_for(done.wait(), 5)
    assert ran == list(range(100))
    assert len(wakes) == 1


async def test_a_call_after_the_loop_ran_the_last_wakes_it_again(monkeypatch):
    loop = asyncio.get_running_loop()
    wakes = counting_wakes(loop, monkeypatch)
    calls = LoopCalls(loop)
    ran: list[int] = []
    for n in range(3):
        await asyncio.to_thread(calls.call, ran.append, n)
        await asyncio.sleep(0.01)
    assert ran == [0, 1, 2]
    assert len(wakes) == 3


async def test_a_failing_call_does_not_stop_the_ones_after_it(caplog):
    calls = LoopCalls(asyncio.get_running_loop())
    ran: list[int] = []

    def fail():
        raise RuntimeError("boom")

    def burst():
        calls.call(ran.append, 1)
        calls.call(fail)
        calls.call(ran.append, 2)

    await asyncio.to_thread(burst)
    await asyncio.sleep(0.01)
    assert ran == [1, 2]
    assert "a call handed to the event loop failed" in caplog.text


def test_calls_to_a_closed_loop_are_dropped():
    loop = asyncio.new_event_loop()
    loop.close()
    calls = LoopCalls(loop)
    calls.call(print, "never")
    assert calls.calls == []
    calls.call(print, "never either")  # and the next one tries again, not stuck behind it
    assert calls.calls == []
