"""The search benchmark's database work, run as a process of its own on the site's database
(its environment: SQLITE_PATH or DATABASE_URL), printing one JSON object:

    python -m bench.search_data fill --messages 1000000 --rooms 200 --users 1000 --person bench0
    python -m bench.search_data index off|on

`fill` drops the search index (migration 0008), writes the people, rooms and messages
straight into the tables (the messages' text drawn from a Zipf distribution over a fixed
vocabulary, like word frequencies in real chat), measures the database, builds the index
as the migration does (timed) and measures it again. It answers with those figures and the
queries to time: common words, rare words, phrases and `from:` + a word, for a person who
may read 50 rooms. Messages are written without room events: search never reads the log.

`index off` stops maintaining the index (SQLite: drops its triggers; PostgreSQL: drops the
generated column), `index on` brings maintenance back (SQLite: the triggers, without
catching up on what was written meanwhile): the POST latency is compared with and without.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

SEED = 18
# The most frequent words of English chat, most frequent first; the rest of the vocabulary
# is made-up words, so that any number of rare ones exist.
COMMON_TEXT = (
    "i you the to a it and is that of in for me my on this be have so what do just not no"
    " with but was are can we at get like yes ok if all know good how your up about there"
    " out one think will they now time lol go its from dont see then when he more oh too"
    " going really today day work would back need want thanks here some did well got right"
    " make new people who why much still let could our look way thing sure great fine"
)
COMMON = COMMON_TEXT.split()
VOCABULARY = 40_000
ZIPF_EXPONENT = 1.07
PUBLIC_ROOMS = 6  # of the generated rooms; the rest are private
PERSON_PRIVATE_ROOMS = 40  # the person reads 6 public + 40 private + the 4 benchmark rooms
LINK_SHARE = 0.02  # of messages carry a link
BATCH = 20_000


def setup() -> Any:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    django.setup()
    from django.db import connection

    return connection


def vocabulary(rng: random.Random) -> list[str]:
    consonants, vowels = "bcdfghjklmnprstvwz", "aeiou"
    words = list(dict.fromkeys(COMMON))
    seen = set(words)
    while len(words) < VOCABULARY:
        syllables = rng.choice((2, 2, 3, 3, 4))
        word = "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(syllables))
        if rng.random() < 0.3:
            word += rng.choice(consonants)
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def migration() -> Any:
    return importlib.import_module("rooms.migrations.0010_message_search")


def execute(connection: Any, statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def drop_index(connection: Any) -> None:
    m = migration()
    if connection.vendor == "sqlite":
        execute(connection, m.SQLITE_DROP)
    else:
        execute(connection, m.POSTGRES_DROP[:2])  # keep the text search configuration


def build_index(connection: Any) -> None:
    m = migration()
    if connection.vendor == "sqlite":
        execute(connection, m.SQLITE_CREATE + m.CREATE_TRIGGERS + m.SQLITE_BUILD)
    else:
        execute(connection, m.POSTGRES_BUILD)


def database_bytes(connection: Any) -> int:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA page_size")
            page = cursor.fetchone()[0]
            cursor.execute("PRAGMA page_count")
            pages = cursor.fetchone()[0]
            cursor.execute("PRAGMA freelist_count")
            free = cursor.fetchone()[0]
            return int((pages - free) * page)
        cursor.execute("SELECT pg_database_size(current_database())")
        return int(cursor.fetchone()[0])


def analyze(connection: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE" if connection.vendor == "sqlite" else "VACUUM ANALYZE")


def fill(args: argparse.Namespace) -> dict[str, Any]:
    connection = setup()
    from django.contrib.auth.models import User
    from django.db import transaction

    from rooms.models import Membership, Room

    rng = random.Random(SEED)
    words = vocabulary(rng)
    weights = [1 / (rank**ZIPF_EXPONENT) for rank in range(1, len(words) + 1)]
    cumulative = []
    total = 0.0
    for weight in weights:
        total += weight
        cumulative.append(total)

    drop_index(connection)

    started = time.monotonic()
    person = User.objects.get(username=args.person)
    existing = list(User.objects.values_list("pk", flat=True))
    User.objects.bulk_create(
        [User(username=f"gen{i}", password="!") for i in range(args.users - len(existing))],
        batch_size=1000,
    )
    people = list(User.objects.exclude(pk=person.pk).values_list("pk", flat=True))
    rooms = []
    for i in range(args.rooms):
        rooms.append(
            Room(
                slug=f"gen-{i:03d}",
                name=f"Generated {i}",
                private=i >= PUBLIC_ROOMS,
                owner_id=rng.choice(people),
            )
        )
    rooms = Room.objects.bulk_create(rooms)
    members: dict[int, list[int]] = {}
    memberships = []
    for index, room in enumerate(rooms):
        assert room.owner_id is not None  # generated rooms all have an owner (DMs have none)
        chosen = set(rng.sample(people, rng.randint(10, 60))) | {room.owner_id}
        if PUBLIC_ROOMS <= index < PUBLIC_ROOMS + PERSON_PRIVATE_ROOMS:
            chosen.add(person.pk)
        members[room.pk] = sorted(chosen)
        memberships += [Membership(room=room, user_id=pk) for pk in chosen]
    Membership.objects.bulk_create(memberships, batch_size=5000)

    # Busier rooms and busier people, as in real chat.
    room_ids = [room.pk for room in rooms]
    room_weights = [1 / (rank**0.8) for rank in range(1, len(rooms) + 1)]
    rng.shuffle(room_ids)
    end = datetime.now(UTC) - timedelta(days=1)
    start = end - timedelta(days=730)
    step = (end - start) / args.messages
    sample: list[list[str]] = []
    columns = "room_id, author_id, body, client_id, created_at, removal_reason, state_seq"
    with transaction.atomic():
        for first in range(0, args.messages, BATCH):
            count = min(BATCH, args.messages - first)
            chosen_rooms = rng.choices(room_ids, room_weights, k=count)
            lengths = [max(1, min(60, int(rng.lognormvariate(2.1, 0.7)))) for _ in range(count)]
            drawn = rng.choices(words, cum_weights=cumulative, k=sum(lengths))
            rows = []
            at = 0
            for k in range(count):
                text = drawn[at : at + lengths[k]]
                at += lengths[k]
                if len(sample) < 2000 and rng.random() < 0.01:
                    sample.append(text)
                body = " ".join(text)
                if rng.random() < LINK_SHARE:
                    body += f" https://example.com/{rng.choice(words)}"
                room_id = chosen_rooms[k]
                author_id = rng.choice(members[room_id])
                created = start + step * (first + k)
                rows.append((room_id, author_id, body, "", created, "", 0))
            insert(connection, columns, rows)
    insert_s = time.monotonic() - started
    analyze(connection)
    before = database_bytes(connection)
    started = time.monotonic()
    build_index(connection)
    build_s = time.monotonic() - started
    analyze(connection)
    after = database_bytes(connection)

    readable = set(Room.objects.filter(private=False).values_list("pk", flat=True)) | set(
        Membership.objects.filter(user=person).values_list("room_id", flat=True)
    )
    # A prolific author in the person's rooms, and words from the whole frequency range.
    from django.db.models import Count

    from rooms.models import Message

    prolific = (
        Message.objects.filter(room_id__in=readable)
        .values("author__username")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    assert prolific is not None
    phrases: list[str] = []
    for text in sample:
        if len(text) >= 2 and len(phrases) < 20:
            i = rng.randrange(len(text) - 1)
            phrases.append(f'"{text[i]} {text[i + 1]}"')
    return {
        "messages": args.messages,
        "rooms": args.rooms,
        "users": args.users,
        "person_rooms": len(readable),
        "insert_s": insert_s,
        "build_s": build_s,
        "db_before_mb": before / 2**20,
        "db_after_mb": after / 2**20,
        "queries": {
            # The 20 most frequent words: a page of results is found at once, in any rooms.
            "common word": words[:20],
            # Words that occur a handful of times in the whole history.
            "rare word": [words[r] for r in range(15_000, 35_000, 1000)],
            "phrase": phrases,
            "from: + word": [
                f"from:{prolific['author__username']} {words[r]}" for r in range(20, 420, 20)
            ],
        },
    }


def insert(connection: Any, columns: str, rows: list[tuple[Any, ...]]) -> None:
    if connection.vendor == "postgresql":
        sql = f"COPY rooms_message ({columns}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
        return
    adapt = connection.ops.adapt_datetimefield_value
    placeholders = ", ".join(["%s"] * 7)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO rooms_message ({columns}) VALUES ({placeholders})",
            [(*row[:4], adapt(row[4]), *row[5:]) for row in rows],
        )


def switch_index(on: bool) -> dict[str, Any]:
    connection = setup()
    m = migration()
    started = time.monotonic()
    if connection.vendor == "sqlite":
        if on:
            execute(connection, m.CREATE_TRIGGERS)
        else:
            execute(connection, m.SQLITE_DROP[:3])  # the triggers; the table stays
    elif on:
        execute(connection, m.POSTGRES_BUILD)
    else:
        execute(connection, m.POSTGRES_DROP[:2])
    return {"index": "on" if on else "off", "secs": time.monotonic() - started}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    filling = commands.add_parser("fill")
    filling.add_argument("--messages", type=int, default=1_000_000)
    filling.add_argument("--rooms", type=int, default=200)
    filling.add_argument("--users", type=int, default=1000)
    filling.add_argument("--person", default="bench0")
    switching = commands.add_parser("index")
    switching.add_argument("state", choices=("on", "off"))
    args = parser.parse_args()
    result = fill(args) if args.command == "fill" else switch_index(args.state == "on")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
