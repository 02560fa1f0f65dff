from django.urls import path

from . import views

urlpatterns = [
    path("", views.overview, name="warmup-index"),
    path("mailboxes/<int:pk>/", views.mailbox_detail, name="warmup-mailbox"),
    path("import/", views.mailbox_import, name="warmup-import"),
]
