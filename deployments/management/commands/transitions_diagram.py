"""Print the lifecycle diagram generated from the transitions map."""

from django.core.management.base import BaseCommand

from deployments import diagram

FORMATS = {"mermaid": diagram.mermaid, "table": diagram.markdown_table}


class Command(BaseCommand):
    help = "Print the deployment lifecycle (from the transitions map) as Mermaid or a table."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=sorted(FORMATS), default="mermaid")

    def handle(self, *args, **options):
        self.stdout.write(FORMATS[options["format"]](), ending="")
