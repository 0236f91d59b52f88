"""The "Moderators" group: site staff in it moderate every room, from the admin."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP_NAME = "Moderators"

# Exactly what moderation needs: read users, rooms, memberships and messages; change rooms
# (lock, archive, slow mode) and messages (remove, restore); manage mutes and bans; handle
# reports; read the moderation log; and the permission that makes one a site moderator.
PERMISSIONS = [
    ("auth", "view_user"),
    ("rooms", "moderate_room"),
    ("rooms", "view_room"),
    ("rooms", "change_room"),
    ("rooms", "view_membership"),
    ("rooms", "view_message"),
    ("rooms", "change_message"),
    ("rooms", "view_restriction"),
    ("rooms", "add_restriction"),
    ("rooms", "change_restriction"),
    ("rooms", "delete_restriction"),
    ("rooms", "view_report"),
    ("rooms", "change_report"),
    ("rooms", "view_moderationaction"),
]


def create_group(apps, schema_editor):
    # Permissions are normally created after all migrations ran; this one needs them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP_NAME)
    for app_label, codename in PERMISSIONS:
        group.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )


def delete_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("rooms", "0002_moderation"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, delete_group)]
