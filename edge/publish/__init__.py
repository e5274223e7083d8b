"""Publishers: the only way anything leaves the process (MQTT), behind the payload gate."""
