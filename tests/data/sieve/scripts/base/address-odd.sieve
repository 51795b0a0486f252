require "fileinto";
if address :all :is "from" "foo" { fileinto "raw-foo"; }
if address :localpart :is "from" "foo" { fileinto "lp-foo"; }
if address :is "cc" "ok@example.com" { fileinto "ok"; }
if address :matches "to" "*" { fileinto "to-any"; }
