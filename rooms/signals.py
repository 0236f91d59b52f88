"""Close open streams when the session or account behind them stops being valid."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save
from django.dispatch import receiver

from rooms import events

User = get_user_model()


@receiver(user_logged_out)
def close_streams_of_the_session(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        events.revoke_session_on_commit(session_key)


@receiver(pre_save, sender=User)
def remember_credentials(sender: Any, instance: Any, **kwargs: Any) -> None:
    if instance.pk is None:
        instance._stream_credentials = None
        return
    instance._stream_credentials = (
        User.objects.filter(pk=instance.pk).values_list("password", "is_active").first()
    )


def keep_streams_of_session(user: Any, session: Any) -> None:
    """Say that the password change `user`'s next save makes comes from `session` (the
    password change page): that session stays valid, and so do its open streams."""
    user._password_changed_in = session


@receiver(post_save, sender=User)
def close_streams_of_the_account(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """A new password or a deactivation ends every stream of the account, in every process,
    except those of the session that changed the password itself (keep_streams_of_session).
    """
    before = getattr(instance, "_stream_credentials", None)
    changed_in = getattr(instance, "_password_changed_in", None)
    instance._password_changed_in = None
    if created or before is None:
        return
    password, is_active = before
    deactivated = is_active and not instance.is_active
    if password != instance.password and changed_in is not None and not deactivated:
        events.revoke_other_sessions_on_commit(instance.pk, changed_in)
    elif password != instance.password or deactivated:
        events.revoke_user_on_commit(instance.pk)


@receiver(pre_delete, sender=User)
def leave_every_room(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A deleted account leaves its rooms the way a person does: an event in each room."""
    for membership in instance.memberships.select_related("room"):
        membership.room.remove_member(instance)


@receiver(post_delete, sender=User)
def close_streams_of_a_deleted_account(sender: Any, instance: Any, **kwargs: Any) -> None:
    events.revoke_user_on_commit(instance.pk)
