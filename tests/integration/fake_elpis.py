#!/usr/bin/env python3
"""A scripted stand-in for elpis (python3 stdlib only): an MCP stdio server with
elpis's tools whose `generate` answers come from a JSON script, so psyche's
tool loop can be tested (the random-weight tiny model only talks gibberish).

    fake_elpis.py SCRIPT.json [--model PATH]   (--model is accepted and ignored)

Script:
  {"responses":  [R, ...],     # conversation generations, used in order
   "background": [R, ...],     # background generations (idle thoughts, summaries)
   "default": "text",          # when no response is left
   "background_default": "text",
   "context_length": 4096,
   "slots": N,                  # report N slots in get_capabilities and answer
                                # tools/call concurrently (a thread per call);
                                # absent: no slots reported, one call at a time
   "log": "/path/requests.jsonl"}  # every tools/call appended here (optional)
R: {"content": "text", "when": "substring of the last message" (optional),
    "chunk": 8 (chars per progress notification), "delay": 0.0 (s per chunk; for
    function_call, the seconds the call takes before its text streams),
    "hold_until": "/path" (after the text streamed, wait until this file exists:
    a test sees the pieces arrive before the end without guessing at timing),
    "crash": true (die by SIGSEGV instead of answering),
    "prompt_tokens": N (usage.prompt_tokens to report instead of the estimate),
    "tool_calls": [...] (what function_call returns; generate ignores it)}
A response with "when" is taken only when the last message contains it;
the first usable unused response wins.
"""
import json
import os
import queue
import signal
import sys
import threading
import time

script_path = None
args = sys.argv[1:]
while args:
    a = args.pop(0)
    if a == "--model":
        args.pop(0) if args else None
    elif script_path is None:
        script_path = a
script = {}
if script_path:
    with open(script_path) as f:
        script = json.load(f)
used = {"responses": set(), "background": set()}
pick_lock = threading.Lock()  # answer_call threads pick responses one at a time
log_path = script.get("log")

emotion = {"valence": 0.0, "arousal": 0.0, "update_count": 0}
EVENTS = {"success": (0.2, 0.1), "failure": (-0.2, 0.15), "frustration": (-0.15, 0.25),
          "user_question": (0.05, 0.1), "insight": (0.25, 0.2), "error": (-0.1, 0.2)}

inbox = queue.Queue()
cancelled = set()
out_lock = threading.Lock()


def send(obj):
    with out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def reader():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("method") == "notifications/cancelled":
            cancelled.add(msg.get("params", {}).get("requestId"))
            continue
        inbox.put(msg)
    inbox.put(None)


def state():
    v, a = emotion["valence"], emotion["arousal"]
    quad = ("excited" if v >= 0 else "frustrated") if a >= 0 else ("calm" if v >= 0 else "depleted")
    return {"valence": v, "arousal": a, "quadrant": quad, "baseline": {"valence": 0.0, "arousal": 0.0},
            "update_count": emotion["update_count"], "last_update": time.time(),
            "steering_coefficients": {"excited": 0.25, "frustrated": 0.25, "calm": 0.25, "depleted": 0.25},
            "trajectory": {"valence_velocity": 0.0, "arousal_velocity": 0.0, "trend": "stable",
                           "momentum": "neutral", "spiral_detected": False, "spiral_direction": "none",
                           "time_in_quadrant": 1.0}}


def pick(kind, last):
    with pick_lock:
        return pick_locked(kind, last)


def pick_locked(kind, last):
    items = script.get(kind, [])
    for i, r in enumerate(items):
        if i in used[kind]:
            continue
        if r.get("when") and r["when"] not in last:
            continue
        used[kind].add(i)
        return r
    d = script.get("default" if kind == "responses" else "background_default")
    if d is None:
        d = "A quiet thought about patterns." if kind == "background" else "Hello from the fake model."
    return {"content": d}


def stream_text(req_id, r, meta, delay):
    """Sends r's text as progress notifications when the caller asked for them
    (delay seconds after each piece; without progress, the same time in one
    wait), then waits for r's hold_until file.
    False when the request was cancelled meanwhile."""
    text = r.get("content", "")
    token = (meta or {}).get("progressToken")
    chunk = int(r.get("chunk", 8))
    sent = 0
    if token is not None:
        for i in range(0, len(text), chunk):
            if req_id in cancelled:
                return False
            piece = text[i:i + chunk]
            sent += 1
            send({"jsonrpc": "2.0", "method": "notifications/progress",
                  "params": {"progressToken": token, "progress": sent, "message": piece}})
            if delay:
                end = time.monotonic() + delay
                while time.monotonic() < end and req_id not in cancelled:
                    time.sleep(0.005)
    elif delay:  # unstreamed, the generation takes as long as streamed (elpis's does too)
        end = time.monotonic() + delay * len(range(0, len(text), chunk))
        while time.monotonic() < end and req_id not in cancelled:
            time.sleep(0.005)
    while r.get("hold_until") and not os.path.exists(r["hold_until"]) and req_id not in cancelled:
        time.sleep(0.005)
    return req_id not in cancelled


def generate(req_id, a, meta):
    msgs = a.get("messages") or []
    last = (msgs[-1].get("content") or "") if msgs else ""
    r = pick("background" if a.get("background") else "responses", last)
    if r.get("crash"):
        sys.stderr.write("fake_elpis: crashing as scripted\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGSEGV)
    text = r.get("content", "")
    if not stream_text(req_id, r, meta, float(r.get("delay", 0.0))):
        return None
    n = sum(len(m.get("content") or "") for m in msgs) // 4
    if "prompt_tokens" in r:
        n = int(r["prompt_tokens"])
    return {"content": text, "emotional_state": state(), "modulated_params": {"temperature": 0.7, "top_p": 0.9},
            "usage": {"prompt_tokens": n, "cached_tokens": 0, "completion_tokens": max(1, len(text) // 4)},
            "finish_reason": "stop"}


def count_tokens(a):
    if "messages" in a:
        return {"tokens": sum(4 + len(m.get("content") or "") // 4 for m in a["messages"])}
    return {"tokens": len(a.get("text", "")) // 4 + 1}


TOOLS = ["generate", "function_call", "update_emotion", "reset_emotion", "get_emotion", "get_capabilities",
         "count_tokens"]


def call(req_id, name, a, meta):
    if log_path:
        with open(log_path, "a") as f:
            f.write(json.dumps({"tool": name, "arguments": a, "progress": "progressToken" in (meta or {})}) + "\n")
    if name == "generate":
        return generate(req_id, a, meta)
    if name == "function_call":
        msgs = a.get("messages") or []
        r = pick("responses", (msgs[-1].get("content") or "") if msgs else "")
        end = time.monotonic() + float(r.get("delay", 0))  # "delay": the whole call's time here
        while time.monotonic() < end and req_id not in cancelled:
            time.sleep(0.005)
        if req_id in cancelled or not stream_text(req_id, r, meta, 0.0):
            return None
        return {"tool_calls": r.get("tool_calls"), "content": r.get("content", ""), "emotional_state": state(),
                "usage": {"prompt_tokens": 10, "cached_tokens": 0, "completion_tokens": 5}, "finish_reason": "stop"}
    if name == "update_emotion":
        dv, da = EVENTS.get(a.get("event_type"), (0.0, 0.05))
        k = max(0.0, min(2.0, float(a.get("intensity", 1.0))))
        emotion["valence"] = max(-1.0, min(1.0, emotion["valence"] + dv * k))
        emotion["arousal"] = max(-1.0, min(1.0, emotion["arousal"] + da * k))
        emotion["update_count"] += 1
        return state()
    if name == "reset_emotion":
        emotion.update(valence=0.0, arousal=0.0)
        return state()
    if name == "get_emotion":
        return state()
    if name == "get_capabilities":
        caps = {"context_length": script.get("context_length", 4096), "max_tokens": 2048, "backend": "fake",
                "model_path": "/fake/model.gguf", "model": {"arch": "fake"}, "modulation": "sampling"}
        if "slots" in script:
            caps["slots"] = script["slots"]
        return caps
    if name == "count_tokens":
        return count_tokens(a)
    raise KeyError(name)


def answer_call(mid, p):
    try:
        r = call(mid, p.get("name"), p.get("arguments") or {}, p.get("_meta"))
    except KeyError:
        send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32602, "message": "unknown tool"}})
        return
    if r is None:
        return  # cancelled: no answer
    send({"jsonrpc": "2.0", "id": mid, "result": {
        "content": [{"type": "text", "text": json.dumps(r)}], "structuredContent": r, "isError": False}})


def main():
    threading.Thread(target=reader, daemon=True).start()
    while True:
        msg = inbox.get()
        if msg is None:
            return
        mid, method = msg.get("id"), msg.get("method")
        if mid is None:
            continue
        p = msg.get("params") or {}
        if method == "initialize":
            send({"jsonrpc": "2.0", "id": mid, "result": {
                "protocolVersion": p.get("protocolVersion", "2025-11-25"),
                "capabilities": {"tools": {}}, "serverInfo": {"name": "elpis-inference", "version": "fake"}}})
        elif method == "tools/list":
            send({"jsonrpc": "2.0", "id": mid, "result": {"tools": [
                {"name": t, "description": t, "inputSchema": {"type": "object"}} for t in TOOLS]}})
        elif method == "tools/call":
            if "slots" in script:
                threading.Thread(target=answer_call, args=(mid, p), daemon=True).start()
            else:
                answer_call(mid, p)
        elif method == "ping":
            send({"jsonrpc": "2.0", "id": mid, "result": {}})
        else:
            send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": "method not found"}})


if __name__ == "__main__":
    main()
