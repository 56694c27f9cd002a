"""Responsibility and commitment letters (responsibility_letter.bpmn): generation, signing, digests."""
