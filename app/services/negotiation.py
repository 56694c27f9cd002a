"""三上三下 target negotiation (target_negotiation.bpmn): step handlers and target versions."""
