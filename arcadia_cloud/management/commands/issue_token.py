from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from arcadia_cloud.models import User
from arcadia_cloud.services import issue_token


class Command(BaseCommand):
    help = "Issue an API token; prints the raw token once, as the last line."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--name", default="cli")
        parser.add_argument("--expires-days", type=int, default=None)

    def handle(self, *args, email, name, expires_days, **options):
        user = User.objects.filter(email=email.lower()).first()
        if user is None:
            raise CommandError(f"No identity with email {email!r}.")
        try:
            issued = issue_token(user=user, name=name, expires_days=expires_days)
        except ValidationError as exc:
            raise CommandError(str(exc.message_dict)) from exc
        self.stderr.write(f"Token {issued.token.name!r} for {user.email}; it is shown only once.")
        self.stdout.write(issued.raw)
