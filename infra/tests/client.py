#!/usr/bin/env python3
"""A small Chatter client for the deployment checks (stdlib + the `websockets` package).

  client.py register BASE USERNAME            → prints the registration JSON
  client.py ws-ping WS_URL TOKEN [--insecure]  → one WebSocket session: welcome, ping → pong
  client.py ws-relay WS_URL TOKEN_A TOKEN_B ROOM_ID [--insecure]
                                              → A and B connect (one after the other), A sends
                                                a message to the room, B must receive it
  client.py traffic BASE                       → REST + WebSocket traffic that touches every
                                                  metric family (requests, errors, fan-out, frames)
  client.py slow-consumer BASE                 → makes the server close a socket that does not
                                                  read (4009, ws_slow_consumer_closes_total)

BASE is like http://127.0.0.1:PORT. Exits non-zero with a message on any failure.
"""

import asyncio
import json
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
import uuid

import websockets

TIMEOUT = 20.0


def die(message):
    print(f"client.py: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def request(method, url, body=None, token=None, expect=(200, 201, 204)):
    data = None if body is None else json.dumps(body).encode()
    headers = {"content-type": "application/json"} if body is not None else {}
    if token:
        headers["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode()
    if expect is not None and status not in expect:
        die(f"{method} {url} answered {status}: {text[:300]}")
    return status, (json.loads(text) if text.strip().startswith(("{", "[")) else text)


def register(base, username):
    _, user = request(
        "POST",
        f"{base}/api/v1/auth/register",
        {"username": username, "password": f"{username}-Secret-Pass-42"},
        expect=(201,),
    )
    return user


def unique(prefix):
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def ws_base(base):
    return "ws" + base[len("http"):]


async def recv_json(ws, want_type, ref=None):
    """Frames until one of type `want_type` (and `ref`, when given) arrives."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            die(f"no {want_type!r} frame within {TIMEOUT}s")
        frame = json.loads(await asyncio.wait_for(ws.recv(), left))
        if frame.get("type") == want_type and (ref is None or frame.get("ref") == ref):
            return frame
        if frame.get("type") == "error" and ref is not None and frame.get("ref") == ref:
            die(f"error frame for ref {ref}: {frame}")


async def ws_ping(ws_url, token, insecure):
    context = None
    if ws_url.startswith("wss://"):
        context = ssl.create_default_context()
        if insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    async with websockets.connect(f"{ws_url}?token={token}", ssl=context, open_timeout=TIMEOUT) as ws:
        welcome = await recv_json(ws, "welcome")
        await ws.send(json.dumps({"type": "ping", "ref": 1}))
        pong = await recv_json(ws, "pong", ref=1)
        print(json.dumps({"welcome_user": welcome["user"]["username"], "pong": pong}))


def tls_context(ws_url, insecure):
    if not ws_url.startswith("wss://"):
        return None
    context = ssl.create_default_context()
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


async def ws_relay(ws_url, token_a, token_b, room_id, insecure):
    context = tls_context(ws_url, insecure)
    async with websockets.connect(f"{ws_url}?token={token_a}", ssl=context, open_timeout=TIMEOUT) as wa:
        await recv_json(wa, "welcome")
        async with websockets.connect(f"{ws_url}?token={token_b}", ssl=context, open_timeout=TIMEOUT) as wb:
            await recv_json(wb, "welcome")
            content = f"relayed {uuid.uuid4().hex[:8]}"
            await wa.send(json.dumps({"type": "send_message", "room_id": room_id, "content": content, "ref": "r1"}))
            await recv_json(wa, "ack", ref="r1")
            got = await recv_json(wb, "message_new")
            if got["message"]["content"] != content:
                die(f"B received {got}, not {content!r}")
            print(json.dumps({"sent_by_a": content, "received_by_b": got["message"]["id"]}))


async def traffic(base):
    a = register(base, unique("traffic_a"))
    b = register(base, unique("traffic_b"))
    ta, tb = a["access_token"], b["access_token"]
    request("GET", f"{base}/api/v1/users/me", token=ta)
    request("GET", f"{base}/api/v1/rooms", token=ta)
    request("GET", f"{base}/api/v1/does-not-exist", expect=(404,))
    request("GET", f"{base}/api/v1/users/me", expect=(401,))
    _, room = request(
        "POST",
        f"{base}/api/v1/rooms",
        {"name": "metrics room", "kind": "private", "member_ids": [b["user"]["id"]]},
        token=ta,
        expect=(201,),
    )
    ws = ws_base(base)
    async with websockets.connect(f"{ws}/ws?token={tb}", open_timeout=TIMEOUT) as wb, \
            websockets.connect(f"{ws}/ws?token={ta}", open_timeout=TIMEOUT) as wa:
        await recv_json(wb, "welcome")
        await recv_json(wa, "welcome")
        await wa.send(json.dumps({"type": "ping", "ref": "p1"}))
        await recv_json(wa, "pong", ref="p1")
        for i in range(5):
            await wa.send(json.dumps({
                "type": "send_message", "room_id": room["id"],
                "content": f"hello {i}", "ref": f"m{i}",
            }))
            await recv_json(wa, "ack", ref=f"m{i}")
            await recv_json(wb, "message_new")
        await wa.send(json.dumps({"type": "typing", "room_id": room["id"], "active": True}))
        await wa.send("this is not json")
        await recv_json(wa, "error")
    print(json.dumps({"room": room["id"], "messages": 5}))


async def slow_consumer(base):
    """User B opens a socket with a tiny receive buffer and never reads; user A floods their
    shared room with large messages until the server closes B's socket as too slow (4009)."""
    a = register(base, unique("flood_a"))
    b = register(base, unique("slow_b"))
    _, room = request(
        "POST",
        f"{base}/api/v1/rooms",
        {"name": "slow consumer", "kind": "private", "member_ids": [b["user"]["id"]]},
        token=a["access_token"],
        expect=(201,),
    )
    host, port = base.split("//", 1)[1].rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    ws = ws_base(base)
    slow = await websockets.connect(
        f"{ws}/ws?token={b['access_token']}", sock=sock, max_queue=1, open_timeout=TIMEOUT)
    await recv_json(slow, "welcome")
    content = "x" * 3900
    sent = 0
    started = time.monotonic()
    async with websockets.connect(f"{ws}/ws?token={a['access_token']}", open_timeout=TIMEOUT) as fast:
        await recv_json(fast, "welcome")

        async def drain():
            async for _ in fast:
                pass

        drainer = asyncio.create_task(drain())
        try:
            while time.monotonic() - started < 60:
                for _ in range(100):
                    await fast.send(json.dumps(
                        {"type": "send_message", "room_id": room["id"], "content": content}))
                    sent += 1
                # Let the server catch up, then look at its counter.
                await fast.send(json.dumps({"type": "ping", "ref": f"sync{sent}"}))
                await asyncio.sleep(0.05)
                _, metrics = request("GET", f"{base}/metrics")
                if "ws_slow_consumer_closes_total" in metrics:
                    print(json.dumps({"messages_sent": sent,
                                      "seconds": round(time.monotonic() - started, 1)}))
                    return
            die(f"the server did not close the non-reading socket after {sent} messages")
        finally:
            drainer.cancel()
            sock.close()


def main(argv):
    if len(argv) < 2:
        die(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "register" and len(args) == 2:
        print(json.dumps(register(args[0], args[1])))
    elif cmd == "ws-ping" and len(args) >= 2:
        asyncio.run(ws_ping(args[0], args[1], "--insecure" in args[2:]))
    elif cmd == "ws-relay" and len(args) >= 4:
        asyncio.run(ws_relay(args[0], args[1], args[2], args[3], "--insecure" in args[4:]))
    elif cmd == "traffic" and len(args) == 1:
        asyncio.run(traffic(args[0]))
    elif cmd == "slow-consumer" and len(args) == 1:
        asyncio.run(slow_consumer(args[0]))
    else:
        die(__doc__)


if __name__ == "__main__":
    main(sys.argv)
