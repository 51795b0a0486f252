require ["variables"];
if address :localpart :matches "from" "*" { redirect "${1}-archive@example.com"; }
