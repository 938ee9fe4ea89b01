"""The README's Django example, run as written against a real Django and
redis-server: the bump lands after the commit, and a rollback announces
nothing.
"""

import pathlib
import re
import sys
import types
import unittest

import pushpoll
from redis_server import RedisServer, Subscriber, free_port

try:
    import django
except ImportError:  # the project's Go test requires it; by hand it may be missing
    django = None

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def readme_signals():
    """The code block of the README that starts with # projects/signals.py."""
    for block in re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S):
        if block.startswith("# projects/signals.py"):
            return block
    raise AssertionError("README.md has no projects/signals.py example")


@unittest.skipIf(django is None, "python3-django is not installed")
class DjangoExampleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from django.conf import settings

        cls.server = RedisServer()
        if not settings.configured:
            settings.configure(
                DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
                INSTALLED_APPS=[],
                DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
            )
            django.setup()
        from django.db import connection, models

        class Project(models.Model):
            name = models.CharField(max_length=50)
            version = models.PositiveBigIntegerField(default=1)

            class Meta:
                app_label = "projects"

        with connection.schema_editor() as editor:
            editor.create_model(Project)
        # The README's module, importing Project from .models as it says.
        pkg = types.ModuleType("projects")
        pkg.__path__ = []
        models_mod = types.ModuleType("projects.models")
        models_mod.Project = Project
        sys.modules.update({"projects": pkg, "projects.models": models_mod})
        signals = types.ModuleType("projects.signals")
        signals.__package__ = "projects"
        exec(compile(readme_signals(), str(README), "exec"), signals.__dict__)
        # Imported, as AppConfig.ready does: the module keeps the receiver
        # alive (signals hold it by a weak reference).
        sys.modules["projects.signals"] = signals
        cls.Project = Project

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        pushpoll.configure(url=self.server.url)
        self.redis = self.server.client()
        self.redis.flushdb()

    def tearDown(self):
        self.redis.close()

    def test_bump_after_commit(self):
        from django.db import transaction
        from django.db.models import F

        sub = Subscriber(self.server, "pushpoll:*")
        with transaction.atomic():
            p = self.Project.objects.create(name="a")
            self.assertIsNone(self.redis.get(f"pushpoll:project:{p.pk}"), "bumped before the commit")
            self.assertTrue(sub.quiet("pushpoll:marker"))
        self.assertEqual(self.redis.get(f"pushpoll:project:{p.pk}"), "1")
        self.assertEqual(sub.next()["channel"], f"pushpoll:project:{p.pk}")

        self.Project.objects.filter(pk=p.pk).update(version=F("version") + 1)
        p.refresh_from_db()
        p.save()  # autocommit: on_commit runs at once
        self.assertEqual(self.redis.get(f"pushpoll:project:{p.pk}"), "2")
        sub.close()

    def test_rollback_announces_nothing(self):
        from django.db import transaction

        class Rollback(Exception):
            pass

        with self.assertRaises(Rollback), transaction.atomic():
            self.Project.objects.create(name="gone")
            raise Rollback
        self.assertEqual(self.redis.dbsize(), 0)

    def test_redis_down_the_commit_stands(self):
        pushpoll.configure(url=f"redis://127.0.0.1:{free_port()}")
        with self.assertLogs("projects.signals", "WARNING"):
            p = self.Project.objects.create(name="offline")
        self.assertTrue(self.Project.objects.filter(pk=p.pk).exists())


if __name__ == "__main__":
    unittest.main()
