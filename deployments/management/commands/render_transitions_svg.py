"""Write the state diagram (SVG) generated from the transitions map."""

from pathlib import Path

from django.core.management.base import BaseCommand

from deployments.diagram import svg


class Command(BaseCommand):
    help = (
        "Render the deployment state diagram as SVG from the transitions map "
        "(docs/transitions.svg is this command's output; a test keeps it current)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--output",
            default="-",
            help="File to write (default: standard output), e.g. docs/transitions.svg.",
        )

    def handle(self, *args, output: str, **options):
        document = svg()
        if output == "-":
            self.stdout.write(document, ending="")
            return
        path = Path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(document, encoding="utf-8")
        self.stdout.write(f"Wrote {path}")
