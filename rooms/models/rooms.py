"""Rooms and their members, with the two rules everything asks: who may read a room
(Room.access_for) and who may write in it (Room.check_can_write)."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Q
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from rooms import events
from rooms.event_types import (
    EventType,
    LoggedEvent,
    UserEventType,
    UserLoggedEvent,
    who_may_lose_access,
)
from rooms.formatting import render_message
from rooms.models.common import (
    MAX_ROOM_NAME_LENGTH,
    MAX_TOPIC_LENGTH,
    NotAllowed,
    clean_message_body,
    encode_event_data,
    insert_new,
    validate_room_slug,
)
from rooms.models.log import RoomEvent, UserEvent, next_position
from rooms.models.mentions import Mention, find_mentioned, store_mentions
from rooms.models.messages import Message
from rooms.models.moderation import Restriction
from rooms.models.programs import Bot, is_bot
from rooms.models.reactions import Reaction
from rooms.models.uploads import Upload


class RoomQuerySet(models.QuerySet["Room"]):
    def create_with_owner(self, owner: Any, **fields: Any) -> Room:
        """A new room, its owner its first member (the site's form and the admin)."""
        with transaction.atomic():
            room = self.create(owner=owner, **fields)
            room.add_member(owner, role=Membership.ROLE_OWNER)
        return room

    def locked(self) -> RoomQuerySet:
        """The rooms, their rows locked until commit: what a change of a room's state or
        log takes first, so that its checks and its writes see the same room.

        NO KEY UPDATE, the lock an UPDATE of the row takes anyway (next_event_seq): it keeps
        the other posts, events and checks of the room out, but not the foreign-key checks
        of rows that merely point at the room (PostgreSQL runs those at COMMIT, deferred,
        with KEY SHARE). Under FOR UPDATE, a transaction that took the event counter and
        then checked such a key at COMMIT deadlocked with a post waiting for that counter.
        """
        return self.select_for_update(no_key=True)

    def for_writer(self, slug: str, user: Any) -> Room | None:
        """The room by slug, with the user's `standing` in it read by the same query: what a
        post checks (rooms/api.py), in one trip rather than five ORM queries (each costs
        more CPU to build than to run). Locks the room's row where the database can
        (PostgreSQL; SQLite's writer holds the whole database), as post_message does.
        """
        if not connection.in_atomic_block:
            raise TransactionManagementError("for_writer must run in the post's transaction")
        return self._with_standing(slug, user, lock=True)

    def for_reader(self, slug: str, user: Any) -> Room | None:
        """The room by slug, with the user's `standing` in it, by one query and without a
        lock: what a stream's connect checks (access_for reads the standing). For a room
        object that is used at once and dropped: the standing is not read again."""
        return self._with_standing(slug, user, lock=False)

    def _with_standing(self, slug: str, user: Any, *, lock: bool) -> Room | None:
        room_table = Room._meta.db_table
        member = Membership._meta
        restriction = Restriction._meta
        columns = ", ".join(f"r.{f.column}" for f in Room._meta.concrete_fields)
        active = (
            f"SELECT x.id FROM {restriction.db_table} x WHERE x.room_id = r.id"
            " AND x.user_id = %s AND x.kind = %s"
            " AND (x.expires_at IS NULL OR x.expires_at > %s)"
        )
        # The lock of `locked()`, written out.
        locking = lock and connection.features.has_select_for_update_of
        lock_clause = " FOR NO KEY UPDATE OF r" if locking else ""
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        rows = list(
            self.raw(
                f"SELECT {columns},"
                f" (SELECT m.role FROM {member.db_table} m"
                "   WHERE m.room_id = r.id AND m.user_id = %s) AS standing_role,"
                f" ({active}) AS standing_ban,"
                f" ({active}) AS standing_mute,"
                f" (SELECT b.user_id FROM {Bot._meta.db_table} b WHERE b.user_id = %s)"
                " AS standing_bot"
                f" FROM {room_table} r WHERE r.slug = %s{lock_clause}",
                [
                    *[user.pk, user.pk, Restriction.BAN, now, user.pk, Restriction.MUTE, now],
                    *[user.pk, slug],
                ],
            )
        )
        if not rows:
            return None
        room = rows[0]
        room.standing = Standing(
            user.pk,
            room.standing_role,  # type: ignore[attr-defined]
            banned=room.standing_ban is not None,  # type: ignore[attr-defined]
            mute_id=room.standing_mute,  # type: ignore[attr-defined]
            bot=room.standing_bot is not None,  # type: ignore[attr-defined]
        )
        return room

    def direct_message(self, creator: Any, others: list[Any]) -> tuple[Room, bool]:
        """The direct message between `creator` and `others` (1 to 8 other people): the
        existing one for exactly that set of people, or a new one. Return (room, created).

        A DM is a private room of kind "dm" with no owner; its members are all added in the
        transaction that creates it, and nobody can join it afterwards.
        """
        people = {creator.pk: creator, **{user.pk: user for user in others}}
        key = dm_key(people)
        existing = self.filter(dm_key=key).first()
        if existing is not None:
            return existing, False
        try:
            with transaction.atomic():
                room = self.create(
                    slug=f"dm-{secrets.token_hex(6)}",
                    name="",
                    private=True,
                    kind=Room.KIND_DM,
                    dm_key=key,
                    owner=None,
                )
                # Every member first, so that each one's room_joined names them all.
                Membership.objects.bulk_create(
                    [Membership(room=room, user=user) for user in people.values()]
                )
                for user in people.values():
                    room.append_event(
                        EventType.MEMBER_JOINED,
                        {"room": room.slug, "user": user.get_username()},
                        subject=user.pk,
                    )
        except IntegrityError:
            # The same people started the same DM at the same moment: theirs won.
            return self.get(dm_key=key), False
        return room, True

    def followed_by(self, user: Any) -> RoomQuerySet:
        """The rooms a user stream of this user carries: those they are a member of and may
        read (Room.access_for answers READ for a member unless they are banned)."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        banned = Restriction.objects.active().filter(user=user, kind=Restriction.BAN)
        return self.filter(memberships__user=user).exclude(pk__in=banned.values("room_id"))

    def visible_to(self, user: Any) -> RoomQuerySet:
        """Rooms the user may read: every public room, and private rooms they belong to."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(Q(private=False) | Q(memberships__user=user)).distinct()


@dataclass(frozen=True)
class Standing:
    """One person in one room, as the two rules read it: their role (None: not a member),
    whether a ban applies now, and the mute that applies now (its id), if any. Read once
    by RoomQuerySet.for_writer in the transaction that posts, under the room's lock."""

    user_id: int
    role: str | None
    banned: bool
    mute_id: int | None
    bot: bool = False


def dm_key(people: dict[int, Any]) -> str:
    """What identifies a DM: the ids of its people, sorted."""
    return ",".join(str(pk) for pk in sorted(people))


class Room(models.Model):
    KIND_ROOM = "room"
    KIND_DM = "dm"
    KIND_CHOICES = [(KIND_ROOM, "room"), (KIND_DM, "direct message")]

    # Set by RoomQuerySet.for_writer: the standing of the person who is posting.
    standing: Standing | None = None

    slug = models.SlugField(max_length=50, unique=True, validators=[validate_room_slug])
    name = models.CharField(max_length=MAX_ROOM_NAME_LENGTH)
    private = models.BooleanField(default=False)
    # None for a direct message: nobody owns one.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="owned_rooms",
        null=True,
        blank=True,
    )
    kind = models.CharField(max_length=8, choices=KIND_CHOICES, default=KIND_ROOM)
    # A DM's people (dm_key()): one DM per set of people.
    dm_key = models.CharField(max_length=200, unique=True, null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    # Read-only for everyone but moderators.
    locked = models.BooleanField(default=False)
    # Read-only for everyone, and off the list of rooms to join.
    archived = models.BooleanField(default=False)
    # Minimum seconds between two posts by the same person (moderators excepted); 0 = off.
    slow_mode_seconds = models.PositiveIntegerField(default=0)
    # One line of plain text under the room's name, set by its owner and moderators.
    topic = models.CharField(max_length=MAX_TOPIC_LENGTH, blank=True, default="")
    # The seq of the newest RoomEvent of this room. Bumped with an UPDATE, which takes the
    # row lock, so two transactions can never hand out the same seq or leave a hole.
    last_event_seq = models.PositiveBigIntegerField(default=0, editable=False)
    # Whether any outgoing webhook (rooms/models/programs.py) wants this room's messages:
    # read with the room by every post, so a room without one costs nothing more.
    has_outgoing_hooks = models.BooleanField(default=False, editable=False)

    objects = RoomQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]
        permissions = [("moderate_room", "Can moderate every room")]

    def __str__(self) -> str:
        return self.slug

    def get_absolute_url(self) -> str:
        return f"/rooms/{self.slug}/"

    def settings_data(self) -> dict[str, Any]:
        """The room's settings as clients see them (the room_updated event's data)."""
        return {
            "room": self.slug,
            "name": self.name,
            "private": self.private,
            "locked": self.locked,
            "archived": self.archived,
            "slow_mode_seconds": self.slow_mode_seconds,
            "topic": self.topic,
        }

    def as_data(self, member: bool, members: list[str] | None = None) -> dict[str, Any]:
        """The room as GET /rooms/ lists it to someone who is (or is not) a member; a DM
        with its people (`members`, read here unless given)."""
        return {
            "slug": self.slug,
            "name": self.name,
            "private": self.private,
            "owner": self.owner.get_username() if self.owner is not None else None,
            "kind": self.kind,
            "member": member,
            **self.settings_data(),
            "url": self.get_absolute_url(),
            "events_url": f"{self.get_absolute_url()}events/",
            **({"members": members or self.member_names()} if self.is_dm else {}),
        }

    def member_names(self) -> list[str]:
        """A DM's people, by username (the page names a DM by the others among them)."""
        return list(
            self.memberships.order_by("user__username").values_list("user__username", flat=True)
        )

    @property
    def is_dm(self) -> bool:
        return self.kind == Room.KIND_DM

    @property
    def channel(self) -> str:
        """The django-eventstream channel name of this room."""
        return f"room-{self.pk}"

    def is_member(self, user: Any) -> bool:
        return user.is_authenticated and self.memberships.filter(user=user).exists()

    def access_for(self, user: Any) -> Access:
        """The one rule of who may read this room: its pages, history, stream and replay.

        HIDDEN (answered like a missing room, 404) for anyone not logged in or deactivated
        and for outsiders of a private room; BANNED (403) for those who could otherwise
        read it but are banned from it; READ for everyone else.
        """
        if user.is_authenticated and user.is_active:
            standing = self._standing_for(user)
            if standing is not None:
                # Read with the room by the post's one query (for_writer): the same rule.
                return self._access(self.private, standing.role is not None, standing.banned)
        return Room.access_for_rooms([self], user)[self.pk]

    @staticmethod
    def access_for_rooms(rooms: list[Room], user: Any) -> dict[int, Access]:
        """access_for, for several rooms at once (by room id), in two queries: the rule
        itself, which access_for asks for one room. Search asks it of the rooms of a page of
        results."""
        if not user.is_authenticated or not user.is_active:
            return {room.pk: Access.HIDDEN for room in rooms}
        private = [room.pk for room in rooms if room.private]
        members = (
            set(
                Membership.objects.filter(room_id__in=private, user=user).values_list(
                    "room_id", flat=True
                )
            )
            if private
            else set()
        )
        banned = set(
            Restriction.objects.active()
            .filter(room_id__in=[room.pk for room in rooms], user=user, kind=Restriction.BAN)
            .values_list("room_id", flat=True)
        )
        return {
            room.pk: Room._access(room.private, room.pk in members, room.pk in banned)
            for room in rooms
        }

    def readers_among(self, user_ids: set[int]) -> set[int]:
        """Which of these (active) users may read this room: access_for, for several
        people at once, in at most two queries. Presence lists only them."""
        if not user_ids:
            return set()
        members: set[int] = (
            set(self.memberships.filter(user_id__in=user_ids).values_list("user_id", flat=True))
            if self.private
            else set()
        )
        banned = set(
            Restriction.objects.active()
            .filter(room=self, user_id__in=user_ids, kind=Restriction.BAN)
            .values_list("user_id", flat=True)
        )
        return {
            pk
            for pk in user_ids
            if Room._access(self.private, pk in members, pk in banned) is Access.READ
        }

    @staticmethod
    def _access(private: bool, member: bool, banned: bool) -> Access:
        """The rule itself, from what it depends on."""
        if private and not member:
            return Access.HIDDEN
        if banned:
            return Access.BANNED
        return Access.READ

    def _standing_for(self, user: Any) -> Standing | None:
        """The standing read with the room (for_writer, for_reader), if it is this user's."""
        standing = self.standing
        return standing if standing is not None and standing.user_id == user.pk else None

    def can_read(self, user: Any) -> bool:
        return self.access_for(user) is Access.READ

    def role_of(self, user: Any) -> str | None:
        if not user.is_authenticated:
            return None
        return self.memberships.filter(user=user).values_list("role", flat=True).first()

    def can_moderate(self, user: Any) -> bool:
        """Site moderators moderate every room; the owner and room moderators theirs."""
        if not user.is_authenticated or not user.is_active:
            return False
        return self._is_moderator(user)

    def restriction_for(self, user: Any, kind: str) -> Restriction | None:
        """The user's active mute or ban in this room, if any."""
        if not user.is_authenticated:
            return None
        return Restriction.objects.active().filter(room=self, user=user, kind=kind).first()

    def check_can_write(self, user: Any) -> None:
        """The one rule of who may write in this room now: post, edit or delete their own
        messages (and later react). Raise NotAllowed saying why not.

        Two queries (role, restrictions); the permission lookup only when the room is locked.
        """
        if self.archived:
            raise NotAllowed("the room is archived", reason="archived")
        standing = self._standing_for(user)
        if standing is not None:
            role = standing.role
            banned = standing.banned
            mute = (
                Restriction.objects.filter(pk=standing.mute_id).first()
                if standing.mute_id
                else None
            )
        else:
            role = self.role_of(user)
            kinds = {
                restriction.kind: restriction
                for restriction in Restriction.objects.active().filter(room=self, user=user)
            }
            banned = Restriction.BAN in kinds
            mute = kinds.get(Restriction.MUTE)
        if self.locked and not self._is_moderator(user, role):
            raise NotAllowed("the room is locked", reason="locked")
        if banned:
            raise NotAllowed("you are banned from this room", reason="banned")
        if mute is not None:
            until = f" until {mute.expires_at.isoformat()}" if mute.expires_at else ""
            raise NotAllowed(f"you are muted in this room{until}", reason="muted")
        if role is None:
            raise NotAllowed("join the room first", reason="not a member")

    def check_can_post(self, user: Any) -> None:
        """check_can_write, then the limits on posting: per person, and the room's slow mode."""
        self.check_can_write(user)
        limit = settings.CHAT_POSTS_PER_MINUTE
        if limit:
            now = timezone.now()
            recent = list(
                Message.objects.filter(author=user, created_at__gt=now - timedelta(minutes=1))
                .order_by("-created_at")
                .values_list("created_at", flat=True)[:limit]
            )
            if len(recent) >= limit:
                # Free again once the oldest of those is a minute old.
                seconds = max(1, int(60 - (now - recent[-1]).total_seconds() + 0.999))
                raise NotAllowed(
                    f"too many messages: at most {limit} a minute; wait {seconds} seconds",
                    status=429,
                    retry_after=seconds,
                )
        standing = self._standing_for(user)
        role = standing.role if standing is not None else None
        if self.slow_mode_seconds and not self._is_moderator(user, role):
            last = (
                Message.objects.filter(room=self, author=user)
                .order_by("-id")
                .values_list("created_at", flat=True)
                .first()
            )
            if last is not None:
                wait = self.slow_mode_seconds - (timezone.now() - last).total_seconds()
                if wait > 0:
                    seconds = max(1, int(wait + 0.999))
                    raise NotAllowed(
                        f"slow mode: wait {seconds} more seconds", status=429, retry_after=seconds
                    )

    def _is_moderator(self, user: Any, role: str | None = None) -> bool:
        if (role or self.role_of(user)) in (Membership.ROLE_OWNER, Membership.ROLE_MODERATOR):
            return True
        return bool(user.is_active and user.has_perm("rooms.moderate_room"))

    def current_event_seq(self) -> int:
        """The newest committed event seq, read fresh from the database."""
        return Room.objects.filter(pk=self.pk).values_list("last_event_seq", flat=True).get()

    # Writing. Each method is one transaction holding the change and its event.

    def next_event_seq(self, count: int = 1) -> int:
        """Hand out the room's next seq (or the last of the next `count`, for an import that
        writes many events at once). Must run inside the transaction that uses it.

        The UPDATE takes the room's row lock until commit, so two transactions can never
        get the same seq, and a rolled-back one gives its seq back.
        """
        # One statement (both databases have RETURNING), not an UPDATE then a SELECT.
        table = connection.ops.quote_name(Room._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET last_event_seq = last_event_seq + %s WHERE id = %s"
                " RETURNING last_event_seq",
                [count, self.pk],
            )
            (seq,) = cursor.fetchone()
        self.last_event_seq = seq
        return int(seq)

    def append_event(
        self,
        type: str,
        data: dict[str, Any] | str,
        *,
        seq: int | None = None,
        message_id: int | None = None,
        subject: int | None = None,
        became_private: bool = False,
    ) -> RoomEvent:
        """Add an event to this room's log; publish it once the transaction commits.

        Must run inside the transaction that makes the change the event describes. `seq`
        is one from next_event_seq() when the change had to know it first.
        """
        if seq is None:
            seq = self.next_event_seq()
        encoded = data if isinstance(data, str) else encode_event_data(data)
        logged = LoggedEvent(
            seq,
            type,
            encoded,
            message_id,
            subject,
            who_may_lose_access(type, private=self.private, became_private=became_private),
            next_position(),
            self.slug,
        )
        event = RoomEvent(
            room=self,
            seq=seq,
            type=type,
            data=encoded,
            message_id=message_id,
            subject=subject,
            recheck=logged.recheck,
            position=logged.position,
        )
        insert_new(event)
        events.publish_on_commit(self.pk, logged)
        if subject is not None:
            self._tell_subject(type, subject)
        return event

    def _tell_subject(self, type: str, user_id: int) -> None:
        """Tell the user an event is about, on their user stream, whether they now follow
        this room there: joined (or unbanned while a member), or left (or banned)."""
        member_again = (
            type == EventType.USER_UNBANNED and self.memberships.filter(user=user_id).exists()
        )
        if type == EventType.MEMBER_JOINED or member_again:
            self.append_user_event(user_id, UserEventType.ROOM_JOINED, self.as_data(True))
        elif type in (EventType.MEMBER_LEFT, EventType.USER_BANNED):
            reason = "left" if type == EventType.MEMBER_LEFT else "banned"
            self.append_user_event(
                user_id, UserEventType.ROOM_LEFT, {"room": self.slug, "reason": reason}
            )

    def append_user_event(
        self, user_id: int, type: str, data: dict[str, Any], position: int | None = None
    ) -> None:
        """Add an event about this room to the user's own log; publish it on commit.

        `position` is one from next_position() when the event had to know it first."""
        if position is None:
            position = next_position()
        logged = UserLoggedEvent(position, user_id, self.pk, type, encode_event_data(data))
        UserEvent.objects.create(
            user_id=user_id,
            position=logged.position,
            type=type,
            room=self,
            data=logged.data,
        )
        events.publish_user_on_commit(logged)

    def post_message(
        self,
        author: Any,
        body: str,
        client_id: str = "",
        attachments: list[int] | None = None,
        reply_to: int | None = None,
    ) -> tuple[Message, bool]:
        """Store a message and its event. Return (message, created).

        With a client_id the post is idempotent: a retry returns the first message.
        `attachments` are ids of the author's uploads to this room; with some, the text may
        be empty. `reply_to` is the id of a message of this room that it answers.
        """
        blank = isinstance(body, str) and not body.strip()
        body = "" if attachments and blank else clean_message_body(body)
        # Rendered before the transaction: the room's lock is not held while parsing.
        html = render_message(body)
        if client_id:
            existing = Message.objects.filter(author=author, client_id=client_id).first()
            if existing is not None:
                return existing, False
        try:
            with transaction.atomic():
                # Lock the room first, so the checks and the post see the same state
                # (two quick posts cannot both slip through slow mode). A room read by
                # for_writer in this transaction is locked already, with the standing.
                if self._standing_for(author) is not None:
                    room = self
                else:
                    room = Room.objects.locked().get(pk=self.pk)
                room.check_can_post(author)
                standing = self._standing_for(author)
                quoted = None
                if reply_to is not None:
                    quoted = (
                        Message.objects.filter(room=self, pk=reply_to)
                        .select_related("author")
                        .first()
                    )
                    if quoted is None:
                        raise NotAllowed("reply_to is not a message of this room", status=400)
                seq = self.next_event_seq()
                mentioned = find_mentioned(
                    self,
                    author,
                    body,
                    lambda: room._is_moderator(author, standing.role if standing else None),
                )
                message = Message(
                    room=self,
                    author=author,
                    body=body,
                    html=html,
                    client_id=client_id,
                    state_seq=seq,
                    reply_to=quoted,
                    mentions=mentioned.names,
                    mentions_room=mentioned.room,
                    from_bot=standing.bot if standing is not None else is_bot(author),
                )
                insert_new(message)
                store_mentions(message, mentioned)
                # A new message has no reactions: its data says so without asking. (Empty
                # querysets whose results are in hand: a bare none() would compile its SQL
                # each time the data is read.)
                no_reactions = Reaction.objects.none()
                no_reactions._result_cache = []
                message._prefetched_objects_cache = {"reactions": no_reactions}  # type: ignore[attr-defined]
                if attachments:
                    Upload.objects.attach(message, attachments)
                else:
                    # Nothing attached: the same.
                    nothing = Upload.objects.none()
                    nothing._result_cache = []
                    message._prefetched_objects_cache["attachments"] = nothing  # type: ignore[attr-defined]
                self.append_event(
                    EventType.MESSAGE_POSTED,
                    message.as_event_data(),
                    seq=seq,
                    message_id=message.pk,
                )
                if room.has_outgoing_hooks:
                    # Delivery is the task worker's; imported here, as models import no
                    # delivery code at load time (rooms/programs/outgoing.py imports these).
                    from rooms.programs import outgoing

                    outgoing.enqueue_for(message)
        except IntegrityError:
            # A concurrent retry with the same key committed first.
            if not client_id:
                raise
            return Message.objects.get(author=author, client_id=client_id), False
        return message, True

    def mark_read(self, user: Any, up_to: int) -> ReadState:
        """Move the user's read position here forward to message `up_to` (never back), and
        tell their other tabs and devices on their user stream."""
        with transaction.atomic():
            if not Message.objects.filter(room=self, pk=up_to).exists():
                raise NotAllowed("up_to is not a message of this room", status=400)
            moved = Membership.objects.filter(room=self, user=user, last_read__lt=up_to).update(
                last_read=up_to
            )
            # Its mentions up to there are read too, even one an edit added to a message
            # read before (the read position itself does not move back for it).
            cleared = (
                Mention.objects.unread()
                .filter(user=user, room=self, message_id__lte=up_to)
                .update(read_at=timezone.now())
            )
            # The event's position before the state it carries: a message committed before
            # this position is counted in it, one after it comes later on the stream.
            position = next_position() if moved or cleared else None
            state = read_states(user, self.pk).get(self.pk)
            if state is None:
                raise NotAllowed("join the room first", reason="not a member")
            if position is not None:
                self.append_user_event(
                    user.pk,
                    UserEventType.READ,
                    {"room": self.slug, **state._asdict()},
                    position=position,
                )
        return state

    def set_notify_level(self, user: Any, level: str) -> ReadState:
        """Choose what the member is told about here (NotifyLevel); their other tabs and
        devices hear it on their user stream, with the read state it goes with."""
        with transaction.atomic():
            changed = Membership.objects.filter(room=self, user=user).update(notify=level)
            if not changed:
                raise NotAllowed("join the room first", reason="not a member")
            position = next_position()
            state = read_states(user, self.pk)[self.pk]
            self.append_user_event(
                user.pk,
                UserEventType.READ,
                {"room": self.slug, **state._asdict()},
                position=position,
            )
        return state

    def add_member(self, user: Any, role: str = "member") -> tuple[Membership, bool]:
        with transaction.atomic():
            # What was written before someone joined is not news to them.
            latest = self.messages.order_by("-id").values_list("id", flat=True).first() or 0
            membership, created = Membership.objects.get_or_create(
                room=self, user=user, defaults={"role": role, "last_read": latest}
            )
            if created:
                self.append_event(
                    EventType.MEMBER_JOINED,
                    {"room": self.slug, "user": user.get_username()},
                    subject=user.pk,
                )
        return membership, created

    def remove_member(self, user: Any) -> bool:
        """Remove a member (their streams of a private room close). Return whether they were one."""
        with transaction.atomic():
            deleted, _ = Membership.objects.filter(room=self, user=user).delete()
            if not deleted:
                return False
            self.append_event(
                EventType.MEMBER_LEFT,
                {"room": self.slug, "user": user.get_username()},
                subject=user.pk,
            )
        return True


# Unread messages are counted up to this many per room ("999+" beyond): the count of a room
# someone never reads stays cheap however long its history grows.
MAX_UNREAD_COUNTED = 1000


class ReadState(NamedTuple):
    """Where a member stands in a room: the newest message they read, how many messages
    after it are unread (others', not deleted or removed; at most MAX_UNREAD_COUNTED), the
    room's newest message, how many unread messages mention them (in a DM: every unread
    message), and their notification level there (Membership.notify)."""

    last_read: int
    unread: int
    latest: int
    mentions: int = 0
    notify: str = "default"


def read_states(user: Any, room_id: int | None = None) -> dict[int, ReadState]:
    """The user's ReadState in every room they are a member of (or in one), by room id.

    One query whatever the number of rooms: per membership, a count of at most
    MAX_UNREAD_COUNTED messages after the read position, walked on the (room, id) index.
    """
    message = connection.ops.quote_name(Message._meta.db_table)
    membership = connection.ops.quote_name(Membership._meta.db_table)
    mention = connection.ops.quote_name(Mention._meta.db_table)
    room = connection.ops.quote_name(Room._meta.db_table)
    # A DM's mentions are its unread messages: its count is not asked twice.
    sql = f"""
        SELECT m.room_id, m.last_read,
            (SELECT COUNT(*) FROM (
                SELECT 1 FROM {message} x
                WHERE x.room_id = m.room_id AND x.id > m.last_read AND x.author_id <> %s
                    AND x.deleted_at IS NULL AND x.removed_at IS NULL
                LIMIT {MAX_UNREAD_COUNTED}
            ) unread),
            (SELECT MAX(y.id) FROM {message} y WHERE y.room_id = m.room_id),
            CASE WHEN r.kind = %s THEN NULL ELSE (SELECT COUNT(*) FROM (
                SELECT 1 FROM {mention} n JOIN {message} z ON z.id = n.message_id
                WHERE n.user_id = m.user_id AND n.room_id = m.room_id AND n.read_at IS NULL
                    AND z.deleted_at IS NULL AND z.removed_at IS NULL
                LIMIT {MAX_UNREAD_COUNTED}
            ) mentioned) END,
            m.notify
        FROM {membership} m JOIN {room} r ON r.id = m.room_id
        WHERE m.user_id = %s {"AND m.room_id = %s" if room_id is not None else ""}
    """
    params = [user.pk, Room.KIND_DM, user.pk, *([room_id] if room_id is not None else [])]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {
            room: ReadState(
                int(last_read),
                int(unread),
                int(latest or 0),
                int(unread if mentioned is None else mentioned),
                notify,
            )
            for room, last_read, unread, latest, mentioned, notify in cursor.fetchall()
        }


class Access(enum.Enum):
    """What Room.access_for answers."""

    READ = "read"
    HIDDEN = "hidden"
    BANNED = "banned"


class NotifyLevel(models.TextChoices):
    """What a member is told about in one room. DEFAULT follows their own choice
    (Preferences.notify); MUTE tells nothing and does not show the room as unread."""

    DEFAULT = "default", "My default"
    ALL = "all", "All messages"
    MENTIONS = "mentions", "Mentions only"
    MUTE = "mute", "Nothing (muted)"


class Membership(models.Model):
    ROLE_OWNER = "owner"
    ROLE_MODERATOR = "moderator"
    ROLE_MEMBER = "member"
    ROLE_CHOICES = [(ROLE_OWNER, "owner"), (ROLE_MODERATOR, "moderator"), (ROLE_MEMBER, "member")]

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=ROLE_CHOICES, default=ROLE_MEMBER)
    joined_at = models.DateTimeField(default=timezone.now)
    # The id of the newest message its user has read here (POST /rooms/<slug>/read/).
    last_read = models.PositiveBigIntegerField(default=0)
    # What its user is told about here (POST /rooms/<slug>/notifications/).
    notify = models.CharField(
        max_length=10, choices=NotifyLevel.choices, default=NotifyLevel.DEFAULT
    )

    class Meta:
        constraints = [
            # Serves "is this user a member of this room", asked on every post and stream.
            models.UniqueConstraint(fields=["room", "user"], name="membership_unique_room_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.room}"
