"""The demo's built-in knowledge base: product docs of a fictional note-taking app, and questions about it.

Each question carries a grounded answer (written from its document), an invented answer (plausible
facts that are not in any document) and, for most, a reference answer for the similarity metric.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class Question:
    text: str
    doc: str  # id of the document that answers it
    answer: str  # grounded in the document
    invented: str  # sounds right, is not in the documents
    ground_truth: str = ""  # reference answer; empty for some questions (similarity is then n/a)


DOCUMENTS = [
    Document(
        "pricing",
        "Plans and pricing",
        "Lumen Notes has three plans. Free costs nothing and includes 3 notebooks and 100 MB of storage. "
        "Pro costs $8 per user per month billed annually, or $10 billed monthly, with unlimited notebooks and "
        "20 GB of storage. Team costs $15 per user per month and adds shared workspaces, admin controls and "
        "100 GB of pooled storage.",
    ),
    Document(
        "refunds",
        "Refunds and cancellation",
        "Annual Pro and Team subscriptions can be refunded in full within 14 days of purchase. After 14 days, "
        "refunds are prorated for the unused months. Monthly plans are not refunded, but you can cancel at any "
        "time and keep access until the end of the billing period. Refunds are requested from Settings > Billing "
        "> Request refund and reach the original payment method within 5 business days.",
    ),
    Document(
        "offline",
        "Working offline",
        "The desktop and mobile apps work offline. Notes created or edited offline are stored locally and synced "
        "automatically the next time the device connects. If the same note was changed on two devices, Lumen "
        "keeps both versions and marks the note with a conflict badge so you can merge them. The web app needs "
        "a connection.",
    ),
    Document(
        "export",
        "Exporting notes",
        "You can export a single note or a whole notebook from the note menu > Export. Supported formats are "
        "Markdown, PDF and HTML. A full account export, a ZIP of every notebook in Markdown with attachments, is "
        "available under Settings > Account > Export all data and is emailed as a download link within one hour.",
    ),
    Document(
        "sharing",
        "Sharing notes",
        "Any note can be shared with a link from the Share button. Links can be view-only or allow editing, and "
        "can be protected with a password or set to expire after 1, 7 or 30 days. On the Team plan, admins can "
        "turn off public links for the whole workspace.",
    ),
    Document(
        "security",
        "Security and encryption",
        "Lumen encrypts notes in transit with TLS 1.3 and at rest with AES-256. Notebooks marked as private "
        "vaults are end-to-end encrypted: the encryption key is derived from the vault password, which Lumen "
        "never stores, so a forgotten vault password cannot be recovered. Two-factor authentication with an "
        "authenticator app or a security key is available on every plan.",
    ),
    Document(
        "integrations",
        "Integrations and API",
        "Lumen integrates with Google Calendar, Slack and Zapier. The Slack integration lets you save a message "
        "to a notebook with the /lumen command. Calendar events can create a meeting note automatically five "
        "minutes before they start. The REST API is available on Pro and Team plans with a limit of 600 requests "
        "per minute.",
    ),
    Document(
        "search",
        "Search",
        "Search looks at note titles, note text, tags and the text inside PDF attachments and images (via OCR). "
        "Use quotes for an exact phrase, tag:name to filter by tag and before:2024-05-01 or after: to filter by "
        "date. OCR for new images usually finishes within two minutes of upload.",
    ),
    Document(
        "storage",
        "Storage and attachments",
        "Attachments can be up to 25 MB each on the Free plan and 250 MB on Pro and Team. When a workspace "
        "reaches its storage limit, existing notes stay readable and editable, but new attachments are blocked "
        "until space is freed or the plan is upgraded. Deleted notes stay in the trash for 30 days and count "
        "toward storage.",
    ),
    Document(
        "support",
        "Getting support",
        "Support is available by email at support@lumen-notes.example for all plans, with a first reply within "
        "2 business days on Free and within 8 business hours on Pro. Team customers also get live chat from "
        "8:00 to 18:00 CET on weekdays and a named account manager from 50 seats.",
    ),
    Document(
        "assist",
        "Lumen Assist (AI)",
        "Lumen Assist, the writing assistant, can summarize a note, draft text from bullet points and answer "
        "questions about your notebooks. It is included in Team and is a $4 per user per month add-on for Pro. "
        "Notes are not used to train AI models.",
    ),
]

QUESTIONS = [
    Question(
        "How much does the Pro plan cost?",
        "pricing",
        "The Pro plan costs $8 per user per month billed annually, or $10 per month billed monthly. It includes "
        "unlimited notebooks and 20 GB of storage.",
        "The Pro plan costs $12 per user per month, with a 20% discount for nonprofits and students, and comes "
        "with 1 TB of storage.",
        "$8 per user per month billed annually, or $10 billed monthly.",
    ),
    Question(
        "What do I get on the Free plan?",
        "pricing",
        "The Free plan costs nothing and includes 3 notebooks and 100 MB of storage.",
        "The Free plan includes 10 notebooks, 2 GB of storage and a 60-day trial of every premium feature.",
        "3 notebooks and 100 MB of storage, at no cost.",
    ),
    Question(
        "Can I get a refund on my annual subscription?",
        "refunds",
        "Yes. Annual Pro and Team subscriptions are refunded in full within 14 days of purchase; after 14 days "
        "the refund is prorated for the unused months. Request it from Settings > Billing > Request refund.",
        "Yes, annual subscriptions can be refunded within 60 days, no questions asked, by calling our billing "
        "hotline; the money is returned as store credit.",
        "A full refund within 14 days of purchase, then a prorated refund for the unused months.",
    ),
    Question(
        "How long does a refund take to arrive?",
        "refunds",
        "A refund takes up to 5 business days to arrive: refunds reach the original payment method within 5 business "
        "days.",
        "Refunds usually take three to four weeks because they are processed manually by our finance team in Dublin.",
        "Within 5 business days, to the original payment method.",
    ),
    Question(
        "Does Lumen work offline?",
        "offline",
        "Yes, the desktop and mobile apps work offline. Notes created or edited offline are stored locally and "
        "synced automatically the next time the device connects. The web app needs a connection.",
        "Yes, every version of Lumen including the web app works offline for up to 90 days, and offline notes "
        "are backed up to a USB key automatically.",
        "The desktop and mobile apps work offline and sync when the device reconnects; the web app does not.",
    ),
    Question(
        "What happens if I edit the same note on two devices while offline?",
        "offline",
        "If the same note was edited offline on two devices, Lumen keeps both versions and marks the note with a "
        "conflict badge so you can merge them.",
        "The most recent edit wins and the older version is deleted permanently after 24 hours.",
    ),
    Question(
        "How do I export a notebook to PDF?",
        "export",
        "Open the note menu and choose Export: you can export a single note or a whole notebook as Markdown, "
        "PDF or HTML.",
        "Exporting to PDF requires the Team plan; use File > Print > Save as PDF, and exports are limited to 50 pages.",
        "From the note menu > Export; Markdown, PDF and HTML are supported.",
    ),
    Question(
        "Can I download all of my data?",
        "export",
        "Yes. Under Settings > Account > Export all data you get a ZIP of every notebook in Markdown with "
        "attachments, emailed as a download link within one hour.",
        "Yes, but a full data export must be requested from support and is delivered on a DVD within 10 days.",
        "Yes: Settings > Account > Export all data emails a ZIP download link within one hour.",
    ),
    Question(
        "Can I share a note with a password?",
        "sharing",
        "Yes. Share the note with a link from the Share button; links can be view-only or allow editing, and can "
        "be protected with a password or set to expire after 1, 7 or 30 days.",
        "Password protection for shared notes is not available yet; it is planned for the next major release "
        "together with watermarking.",
        "Yes, share links can be password-protected and can expire after 1, 7 or 30 days.",
    ),
    Question(
        "Can admins disable public links?",
        "sharing",
        "Yes. On the Team plan, admins can turn off public links for the whole workspace.",
        "Admins can only disable public links by contacting the enterprise sales team and signing an addendum.",
    ),
    Question(
        "Are my notes encrypted?",
        "security",
        "Yes. Lumen encrypts notes in transit with TLS 1.3 and at rest with AES-256, and private vaults are "
        "end-to-end encrypted.",
        "Notes are encrypted with a proprietary quantum-safe cipher certified by the Swiss government, and "
        "backups are stored in a bunker in the Alps.",
        "Yes: TLS 1.3 in transit, AES-256 at rest, and end-to-end encryption for private vaults.",
    ),
    Question(
        "I forgot my vault password. Can you recover it?",
        "security",
        "No. The vault's encryption key is derived from the vault password, which Lumen never stores, so a "
        "forgotten vault password cannot be recovered.",
        "Yes, support can reset a vault password after verifying your identity with a photo ID, usually within "
        "48 hours.",
        "No, Lumen never stores the vault password, so it cannot be recovered.",
    ),
    Question(
        "Does Lumen integrate with Slack?",
        "integrations",
        "Yes. Lumen integrates with Slack: the /lumen command saves a Slack message to a notebook. It also "
        "integrates with Google Calendar and Zapier.",
        "Slack support was discontinued last year; Lumen now integrates with Microsoft Teams and Discord only.",
        "Yes, the /lumen command saves a Slack message to a notebook.",
    ),
    Question(
        "What is the API rate limit?",
        "integrations",
        "The REST API is available on Pro and Team plans with a limit of 600 requests per minute.",
        "The API allows 10,000 requests per hour on every plan, and burst limits can be raised for a fee.",
        "600 requests per minute, on Pro and Team plans.",
    ),
    Question(
        "Can search find text inside images?",
        "search",
        "Yes. Search looks at the text inside PDF attachments and images via OCR; OCR for new images usually "
        "finishes within two minutes of upload.",
        "No, images are not searchable, but handwritten notes are indexed by our AI handwriting engine overnight.",
        "Yes, images and PDF attachments are searchable through OCR, usually within two minutes of upload.",
    ),
    Question(
        "How do I filter search results by date?",
        "search",
        "Use before:2024-05-01 or after: in the search box to filter by date; tag:name filters by tag and quotes "
        "match an exact phrase.",
        "Open the advanced search panel, pick a date range on the calendar widget and press the filter icon.",
    ),
    Question(
        "What is the maximum attachment size?",
        "storage",
        "The maximum attachment size is 25 MB on the Free plan and 250 MB on Pro and Team.",
        "Attachments can be up to 2 GB each on every plan, and videos are compressed automatically.",
        "25 MB on Free, 250 MB on Pro and Team.",
    ),
    Question(
        "What happens when I run out of storage?",
        "storage",
        "When you run out of storage, existing notes stay readable and editable, but new attachments are "
        "blocked until space is freed or the plan is upgraded. Deleted notes in the trash also count toward storage.",
        "Your oldest notes are archived to cold storage and become read-only until you buy a storage pack.",
        "Existing notes stay readable and editable; new attachments are blocked until space is freed or you upgrade.",
    ),
    Question(
        "How fast does support reply on the Pro plan?",
        "support",
        "On Pro, support replies by email within 8 business hours.",
        "Pro customers get a phone callback within 15 minutes, 24 hours a day, 7 days a week.",
        "Within 8 business hours by email.",
    ),
    Question(
        "Is there live chat support?",
        "support",
        "Team customers get live chat from 8:00 to 18:00 CET on weekdays; every plan gets email support.",
        "Live chat is available to everyone around the clock through the help bubble in the app.",
    ),
    Question(
        "Is Lumen Assist included in my Pro plan?",
        "assist",
        "Lumen Assist is included in Team; for Pro it is an add-on costing $4 per user per month.",
        "Lumen Assist is bundled free with Pro since the spring launch, including unlimited image generation and "
        "voice transcription.",
        "No, for Pro it is a $4 per user per month add-on; it is included in Team.",
    ),
    Question(
        "Are my notes used to train AI models?",
        "assist",
        "No. Notes are not used to train AI models.",
        "Only anonymised notes from the Free plan are used to improve our models, and you can opt out by email.",
        "No, notes are not used to train AI models.",
    ),
]

OFF_TOPIC = [
    "Thanks for reaching out! Our team loves hearing from customers. Have a wonderful day and happy writing!",
    "Great question. Many people find that a short walk and a glass of water help them think more clearly "
    "before planning their week.",
    "I can help with that. Here is a quick recipe: mix flour, eggs and milk, rest the batter for ten minutes, "
    "then cook thin pancakes in a hot pan.",
    "The weather in most European cities is mild in spring, so it is a good season for travelling by train.",
    "As an assistant I enjoy talking about many topics. Did you know that octopuses have three hearts?",
]

SYSTEM_PROMPT = (
    "You are the support assistant of Lumen Notes. Answer the user's question using only the documents "
    "below. If they do not contain the answer, say so.\n\n"
)

BY_QUESTION = {q.text: q for q in QUESTIONS}
BY_DOC = {d.id: d for d in DOCUMENTS}

_STOPWORDS_TEXT = (
    "a an and are as at be by can could do does for from get got has have how i if in is it its me my no not "
    "of on or our so that the their them then there these they this to up was we what when where which who "
    "will with you your yes also any all each every into than too very just only about after before out happen"
)
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
_WORD = re.compile(r"[a-z0-9$]+(?:[.:][a-z0-9]+)*")


def words(text: str) -> set[str]:
    """Content words, lower-cased, with a plural 's' dropped: what the naive search and the demo judge compare."""
    out = set()
    for word in _WORD.findall(text.lower()):
        if word in STOPWORDS or len(word) < 2:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
            if word in STOPWORDS:
                continue
        out.add(word)
    return out


def search(query: str, k: int = 3) -> list[Document]:
    """Keyword search: documents ranked by shared content words (title words count double)."""
    q = words(query)
    scored = []
    for i, doc in enumerate(DOCUMENTS):
        score = len(q & words(doc.text)) + 2 * len(q & words(doc.title))
        scored.append((-score, i, doc))
    scored.sort()
    return [doc for _, _, doc in scored[:k]]
