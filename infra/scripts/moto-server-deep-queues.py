#!/usr/bin/env python3
"""moto_server, for benches whose SQS queues hold thousands of messages.

moto's SQS reads one queue attribute, ContentBasedDeduplication, through `Queue.attributes`,
which builds every attribute, the three approximate message counts among them: three passes over
the whole queue for each message sent. A 10,000-employee import queues 10,000 changes, so the
sync's sends alone cost some 150 million message checks (measured with py-spy: every sample of a
stalled 10,000-employee serverless bench was in them, for over 30 minutes). This starts moto's own
server with those lookups reading the attribute alone, as `Queue.attributes` would give it (in
sending, and in receiving: each message handed out asks for the queue's retention period the same
way); nothing else changes, and the bench's request counts do not depend on it.

Use: MOTO_SERVER=infra/scripts/moto-server-deep-queues.py (it takes moto_server's arguments).
Run it with the Python that has moto (the test command's .venv).
"""

import inspect
import sys
import textwrap

import moto.sqs.models as sqs
from moto.core.utils import camelcase_to_underscores


def queue_attribute(queue, name):
    """`queue.attributes.get(name)` for a base or FIFO attribute, without building the rest."""
    fifo = getattr(queue, "fifo_queue", False)
    if name in queue.FIFO_ATTRIBUTES and not fifo:
        return None  # a standard queue has none of them
    if name not in queue.BASE_ATTRIBUTES and name not in queue.FIFO_ATTRIBUTES:
        return queue.attributes.get(name)
    value = getattr(queue, camelcase_to_underscores(name))
    return str(value).lower() if isinstance(value, bool) else value


def patched(owner, method, replacements):
    """`owner.method` recompiled with each (old, new) of `replacements` made in its source."""
    source = textwrap.dedent(inspect.getsource(getattr(owner, method)))
    missing = [old for old, _ in replacements if old not in source]
    if missing:
        sys.stderr.write(f"moto-server-deep-queues: {owner.__name__}.{method} left as it is\n")
        return
    for old, new in replacements:
        source = source.replace(old, new)
    namespace = dict(vars(sqs), queue_attribute=queue_attribute)
    exec(compile(source, inspect.getsourcefile(owner), "exec"), namespace)
    setattr(owner, method, namespace[method])


def one_at_a_time(receiver):
    return [(f"{receiver}.attributes.get(", f"queue_attribute({receiver}, ")]


patched(sqs.SQSBackend, "send_message", one_at_a_time("queue"))
patched(sqs.Queue, "add_message", one_at_a_time("self"))
# Asked by receive_message for each message it hands out (the retention period).
patched(
    sqs.SQSBackend,
    "get_queue_attributes",
    one_at_a_time("queue")
    + [("(name for name in attribute_names if name in queue.attributes)", "attribute_names")],
)

from moto.server import main  # noqa: E402  (after the patch, so the server uses it)

if __name__ == "__main__":
    sys.exit(main())
