"""Page forms: rule, channel (secret write-only) and silence."""

from __future__ import annotations

from django import forms

from .models import Channel, Rule


class RuleForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = ["name", "source", "condition", "threshold", "for_seconds", "window_seconds", "min_volume",
                  "severity", "scope", "group_by", "hysteresis", "resolve_seconds", "enabled", "channels"]
        widgets = {"channels": forms.CheckboxSelectMultiple}


class ChannelForm(forms.ModelForm):
    url = forms.URLField(max_length=500, required=False, assume_scheme="https",
                         help_text="Webhook / Slack URL; Telegram API base URL.")
    secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                             help_text="Write-only: empty keeps the stored secret.")

    class Meta:
        model = Channel
        fields = ["name", "kind", "url", "to", "secret", "enabled", "alertmanager"]


class SilenceForm(forms.Form):
    matchers = forms.CharField(
        help_text="label=value pairs, comma-separated; * wildcards (rule=CPU*, subject=node:mx1)"
    )
    hours = forms.FloatField(min_value=0.05, max_value=24 * 90, initial=2)
    comment = forms.CharField(max_length=2000)

    def clean_matchers(self) -> dict[str, str]:
        pairs = {}
        for part in self.cleaned_data["matchers"].split(","):
            key, sep, value = part.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise forms.ValidationError(f"{part.strip()!r} is not label=value.")
            pairs[key.strip()] = value.strip()
        return pairs
