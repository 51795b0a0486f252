require "reject";
if address :domain "from" "acme.example" { reject "lists are not welcome"; stop; }
keep;
