require "fileinto";
if address :is "to" "me@example.com" { fileinto "ci"; }
if address :is :comparator "i;octet" "to" "ME@EXAMPLE.COM" { fileinto "octet"; }
if address :domain :is "from" "example.de" { fileinto "de"; }
